"""File ingest: every file becomes units (one transaction each), journalled so a rerun resumes cleanly."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, insert, select

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Conflict, HealthBrainError
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import UNRESOLVED_CONDITIONAL, process_batch, process_transaction
from healthbrain.ingest.quarantine import FILE_FEED, QuarantineHook
from healthbrain.storage.tables import ingest_journal

if TYPE_CHECKING:
    from healthbrain.ingest.workers import WorkerSetup

NDJSON_CHUNK = 500
ANALYZE_AFTER = 10_000  # resources: a load this big refreshes the planner's statistics
SUFFIXES = (".json", ".ndjson", ".jsonl")


@dataclass(frozen=True, slots=True)
class UnitError:
    """Where a unit failed (file and entry/line) and why (an error code and message, no patient data)."""

    source: str
    location: str
    code: str
    message: str


@dataclass(slots=True)
class IngestSummary:
    """Counts per resource type, units committed or skipped, and every error."""

    files: int = 0
    units: int = 0
    skipped_units: int = 0
    resources: Counter[str] = field(default_factory=Counter)
    errors: list[UnitError] = field(default_factory=list)
    # JSON documents without a resourceType found while walking a directory (manifests, the
    # simulator's ground truth ...): listed, not loaded, and not errors
    skipped_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quarantined: int = 0  # entries held back by the data-quality quarantine (not loaded)

    @property
    def total_resources(self) -> int:
        return sum(self.resources.values())


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of work that commits atomically: a transaction or batch Bundle."""

    key: str
    source: str
    location: str
    bundle: dict[str, Any] | None
    error: UnitError | None = None
    not_fhir: bool = False  # a JSON object without resourceType


# Bulk exports name NDJSON files by type; resources that others point at go first so that
# conditional references (`Practitioner?identifier=...`) resolve.
_TYPE_ORDER = {"Organization": 0, "Location": 1, "Practitioner": 2, "PractitionerRole": 3, "Patient": 4}


def _file_order(file: Path) -> tuple[str, int, int, str]:
    return (*file_stage(file), file.name)


def file_stage(file: Path) -> tuple[str, int, int]:
    """Files of one stage may load in any order: (directory, NDJSON or not, rank of the type)."""
    is_ndjson = file.suffix in (".ndjson", ".jsonl")
    rank = _TYPE_ORDER.get(file.name.split(".", 1)[0], len(_TYPE_ORDER)) if is_ndjson else 0
    return str(file.parent), int(is_ndjson), rank


def list_files(path: Path) -> list[Path]:
    """The ingestible files under `path`: bundles in name order (`00-region.json` first), then
    NDJSON files with the referenced types first."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(str(path))
    return sorted((p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES), key=_file_order)


def plan_units(path: Path) -> Iterator[Unit]:
    """Read each file once and yield its units; unreadable pieces become units carrying an error."""
    for file in list_files(path):
        raw = file.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()[:40]
        if file.suffix in (".ndjson", ".jsonl"):
            yield from _ndjson_units(file, raw, digest)
        else:
            yield _json_unit(file, raw, digest)


def _json_unit(file: Path, raw: bytes, digest: str) -> Unit:
    key = f"{digest}:0"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Unit(
            key,
            str(file),
            "",
            None,
            UnitError(str(file), f"line {exc.lineno}", "request.malformed_json", "malformed JSON"),
        )
    if not isinstance(data, dict) or "resourceType" not in data:
        return Unit(
            key,
            str(file),
            "",
            None,
            UnitError(str(file), "", "fhir.not_a_resource", "not a FHIR resource"),
            not_fhir=isinstance(data, dict),
        )
    if data["resourceType"] == "Bundle" and data.get("type") in ("transaction", "batch"):
        return Unit(key, str(file), "", data)
    if data["resourceType"] == "Bundle" and data.get("type") in ("collection", "searchset", "document"):
        resources = [e["resource"] for e in data.get("entry", []) if isinstance(e, dict) and "resource" in e]
        return Unit(key, str(file), "", as_transaction(resources))
    return Unit(key, str(file), "", as_transaction([data]))


def _ndjson_units(file: Path, raw: bytes, digest: str) -> Iterator[Unit]:
    lines = raw.splitlines()
    for start in range(0, len(lines), NDJSON_CHUNK):
        resources: list[dict[str, Any]] = []
        error: UnitError | None = None
        for offset, line in enumerate(lines[start : start + NDJSON_CHUNK]):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                error = UnitError(
                    str(file), f"line {start + offset + 1}", "request.malformed_json", "malformed JSON"
                )
                break
            if not isinstance(item, dict) or "resourceType" not in item:
                error = UnitError(
                    str(file), f"line {start + offset + 1}", "fhir.not_a_resource", "not a FHIR resource"
                )
                break
            resources.append(item)
        location = f"lines {start + 1}-{min(start + NDJSON_CHUNK, len(lines))}"
        yield Unit(
            f"{digest}:{start}", str(file), location, None if error else as_transaction(resources), error
        )


def as_transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Resources with ids become PUTs (idempotent); those without become POSTs."""
    entries = []
    for res in resources:
        rt, rid = res.get("resourceType"), res.get("id")
        if rid:
            entries.append(
                {
                    "fullUrl": f"{rt}/{rid}",
                    "resource": res,
                    "request": {"method": "PUT", "url": f"{rt}/{rid}"},
                }
            )
        else:
            entries.append({"resource": res, "request": {"method": "POST", "url": str(rt)}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def ingest_path(
    repo: FhirRepository,
    ctx: RequestContext,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    quarantine: QuarantineHook | None = None,
    workers: int = 1,
    setup: WorkerSetup | None = None,
) -> IngestSummary:
    """Ingest everything under `path`; each unit commits alone, failures are listed and the rest goes on.

    With `quarantine`, entries failing hard data-quality rules are held back in the same transaction.
    A unit whose conditional reference matches nothing is tried again after the other files of its
    stage (`file_stage`): files need not come in dependency order.

    With `workers` > 1 and a `setup` that opens a worker's repository (and quarantine hook), the
    files are shared out over that many processes (`ingest.workers`).
    """
    if workers > 1 and setup is not None:
        from healthbrain.ingest.workers import ingest_path_parallel  # it imports this module

        return ingest_path_parallel(repo, ctx, path, setup, workers, progress)
    summary = IngestSummary()
    started = time.perf_counter()
    files = list_files(path)
    summary.files = len(files)
    done_keys = journal_keys(repo)
    walking = path.is_dir()
    done = 0
    for _, stage in itertools.groupby(files, key=file_stage):
        waiting: list[Unit] = []
        for file in stage:
            for unit in plan_units(file):
                if walking and unit.not_fhir:
                    summary.skipped_files.append(unit.source)
                    continue
                if ingest_unit(repo, ctx, unit, done_keys, summary, quarantine, defer=True) == "deferred":
                    waiting.append(unit)
            done += 1
            if progress is not None:
                progress(done, len(files))
        # units waiting for a resource a later file of the stage brings: again, until a round
        # commits nothing; then once more, reporting what still fails
        while waiting:
            before = summary.units
            waiting = [
                u
                for u in waiting
                if ingest_unit(repo, ctx, u, done_keys, summary, quarantine, defer=True) == "deferred"
            ]
            if summary.units == before:
                for unit in waiting:
                    ingest_unit(repo, ctx, unit, done_keys, summary, quarantine)
                waiting = []
    if summary.total_resources >= ANALYZE_AFTER:
        with repo.engine.begin() as conn:
            repo.store.refresh_statistics(conn)
    summary.seconds = time.perf_counter() - started
    return summary


def ingest_unit(
    repo: FhirRepository,
    ctx: RequestContext,
    unit: Unit,
    done_keys: set[str],
    summary: IngestSummary,
    quarantine: QuarantineHook | None = None,
    *,
    defer: bool = False,
    count_skipped: bool = True,
) -> str:
    """Commit one unit and count it in `summary`: "committed", "skipped", "failed" or "deferred".

    With `defer`, a transaction that may succeed later (a conditional reference matching nothing
    yet, a concurrent change of the same resource) is not counted as an error but "deferred".
    """
    if unit.error is not None:
        summary.errors.append(unit.error)
        return "failed"
    if unit.key in done_keys:
        summary.skipped_units += int(count_skipped)
        return "skipped"
    assert unit.bundle is not None
    entries = unit.bundle.get("entry", [])

    def journal(conn: Connection) -> None:
        conn.execute(
            insert(ingest_journal).values(
                unit_key=unit.key, source=unit.source[-500:], entries=len(entries), committed_at=time.time()
            )
        )

    source = f"{unit.source[-400:]} {unit.location}".strip()
    try:
        if unit.bundle.get("type") == "batch":
            bundle = unit.bundle
            if quarantine is not None:
                bundle, held = quarantine.hold_before_batch(bundle, feed=FILE_FEED, source=source)
                summary.quarantined += held
                entries = bundle.get("entry", [])
            results = process_batch(repo, ctx, bundle)
            for res, entry in zip(results, entries, strict=True):
                if res.outcome:
                    summary.errors.append(
                        UnitError(unit.source, unit.location, "fhir.batch_entry", res.outcome[0].diagnostics)
                    )
                else:
                    summary.resources[str(entry.get("resource", {}).get("resourceType"))] += 1
        else:
            bundle, held = unit.bundle, 0
            also: Callable[[Connection], None] = journal
            if quarantine is not None:
                screened = quarantine.screen_unit(bundle, feed=FILE_FEED, source=source)
                bundle, also, held = screened.bundle, screened.also(journal), screened.held_count
                entries = bundle["entry"]
            process_transaction(repo, ctx, bundle, also=also)
            summary.quarantined += held
            summary.resources.update(
                str(e.get("resource", {}).get("resourceType"))
                for e in entries
                if e.get("request", {}).get("method") in ("POST", "PUT")
            )
        summary.units += 1
        done_keys.add(unit.key)
        return "committed"
    except HealthBrainError as err:
        if defer and (err.code == UNRESOLVED_CONDITIONAL or isinstance(err, Conflict)):
            return "deferred"
        first = err.issues[0] if err.issues else None
        where = (first.expression if first and first.expression else "") or unit.location
        summary.errors.append(UnitError(unit.source, where, err.code, err.message))
        return "failed"


def journal_keys(repo: FhirRepository, among: list[str] | None = None) -> set[str]:
    """Keys of the units already committed (only those `among` the given keys, when given)."""
    query = select(ingest_journal.c.unit_key)
    if among is not None:
        query = query.where(ingest_journal.c.unit_key.in_(among))
    with repo.engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}
