"""Parallel file ingest: several processes, each with its own repository, share out the files.

One Python process keeps one core busy; this machine class has two. Each worker process opens the
repository as the caller's `setup` wires it (policy, audit and sealing included) and ingests whole
files, unit by unit, exactly as the serial path does; the journal still makes a rerun resume. Search
indexing happens before a transaction takes the write lock (`fhir.transaction`), so on SQLite one
worker indexes while the other commits, and PostgreSQL takes both writers at once.

Files run in stages (NDJSON files of the referenced types first, as `list_files` orders them). A
unit that cannot commit yet, because a conditional reference matches nothing or another writer
changed the same resource, is tried again after the others of its stage; when a whole round commits
nothing more, its errors are final.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from healthbrain.core.context import RequestContext
from healthbrain.core.db import create_db_engine
from healthbrain.core.processes import die_with_parent
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.files import (
    ANALYZE_AFTER,
    IngestSummary,
    file_stage,
    ingest_unit,
    journal_keys,
    list_files,
    plan_units,
)
from healthbrain.ingest.quarantine import QuarantineHook

__all__ = ["WorkerSetup", "auto_workers", "ingest_path_parallel", "plain_repository"]

log = logging.getLogger("healthbrain.ingest")

# Builds a worker's repository (and quarantine hook). It crosses into a new process, so it must be
# picklable: a module-level function, or a functools.partial of one.
WorkerSetup = Callable[[], tuple[FhirRepository, QuarantineHook | None]]


# Below this much data the workers' start (a second or two each) costs more than they save.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
MAX_AUTO_WORKERS = 4


def auto_workers(path: Path) -> int:
    """How many processes an ingest of `path` should use when the user does not say."""
    files = list_files(path)
    if len(files) < 2 or sum(f.stat().st_size for f in files) < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS, len(files)))


def plain_repository(url: str, validate: bool = False) -> tuple[FhirRepository, QuarantineHook | None]:
    """A worker setup for the FHIR layer alone (permit-all policy, log audit): benchmarks and
    tests of the repository. `functools.partial(plain_repository, url)` is a `WorkerSetup`."""
    return FhirRepository(create_db_engine(url), validate=validate), None


@dataclass(slots=True)
class _FileResult:
    summary: IngestSummary
    committed: int  # units committed by this attempt
    deferred: bool  # some unit should be tried again later


# A worker process's repository, context and quarantine hook, set once when it starts.
_worker: list[tuple[FhirRepository, RequestContext, QuarantineHook | None]] = []


def _start_worker(setup: WorkerSetup, ctx: RequestContext, parent: int) -> None:
    die_with_parent(parent)  # killed with -9, the ingest cannot stop its pool
    repo, quarantine = setup()
    _worker[:] = [(repo, ctx, quarantine)]


def _ingest_file(file: str, walking: bool, final: bool, retry: bool) -> _FileResult:
    repo, ctx, quarantine = _worker[0]
    summary = IngestSummary(files=1)
    units = list(plan_units(Path(file)))
    done = journal_keys(repo, [u.key for u in units])
    deferred = False
    for unit in units:
        if walking and unit.not_fhir:
            summary.skipped_files.append(unit.source)
            continue
        # on a retry, the units an earlier round committed are not "already ingested"
        outcome = ingest_unit(
            repo, ctx, unit, done, summary, quarantine, defer=not final, count_skipped=not retry
        )
        deferred = deferred or outcome == "deferred"
    flush = getattr(repo.audit, "flush", None)  # the hash-chain sink buffers; write it per file
    if callable(flush):
        flush()
    return _FileResult(summary, summary.units, deferred)


def ingest_path_parallel(
    repo: FhirRepository,
    ctx: RequestContext,
    path: Path,
    setup: WorkerSetup,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """`ingest_path` over `workers` processes; `repo` (this process's) only refreshes statistics."""
    started = time.perf_counter()
    summary = IngestSummary()
    files = list_files(path)
    summary.files = len(files)
    walking = path.is_dir()
    finished = 0
    context = multiprocessing.get_context("spawn")  # no fork: this process runs threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(setup, ctx, os.getpid())
    ) as pool:
        for _, stage in itertools.groupby(files, key=file_stage):
            pending = [str(f) for f in stage]
            final = again = False
            while pending:
                futures = {pool.submit(_ingest_file, f, walking, final, again): f for f in pending}
                retry: list[str] = []
                committed = 0
                for future in as_completed(futures):
                    result = future.result()
                    _merge(summary, result.summary)
                    committed += result.committed
                    if result.deferred:
                        retry.append(futures[future])
                    else:
                        finished += 1
                        if progress is not None:
                            progress(finished, len(files))
                if retry:
                    log.info("ingest.retry", extra={"fields": {"files": len(retry), "committed": committed}})
                # nothing committed in a whole round: the next round's failures are final
                final, again = committed == 0, True
                waiting = set(retry)
                pending = [f for f in pending if f in waiting]  # in their first order
    if summary.total_resources >= ANALYZE_AFTER:
        with repo.engine.begin() as conn:
            repo.store.refresh_statistics(conn)
    summary.seconds = time.perf_counter() - started
    return summary


def _merge(into: IngestSummary, part: IngestSummary) -> None:
    into.units += part.units
    into.skipped_units += part.skipped_units
    into.resources.update(part.resources)
    into.errors.extend(part.errors)
    into.skipped_files.extend(part.skipped_files)
    into.quarantined += part.quarantined
