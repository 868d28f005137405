"""FHIR Bulk Data `$export`: system, Patient and Group level, as asynchronous jobs writing NDJSON.

See: https://hl7.org/fhir/uv/bulkdata/export.html — kick-off returns 202 and a status URL; the
status URL answers 202 (with X-Progress) while the job runs and 200 with a manifest when done; a
DELETE cancels. Every resource written passes the repository's access policy and the job is audited.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import insert, select, update

from healthbrain.core.context import RequestContext
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Forbidden, HealthBrainError, InvalidInput, Issue, NotFound
from healthbrain.fhir.ports import AuditEntry
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import instant, loads, new_id, parse_instant
from healthbrain.fhir.types import is_resource_type
from healthbrain.storage import tables as t
from healthbrain.storage.query import IdIn, Query
from healthbrain.storage.store import StoredVersion

log = logging.getLogger("healthbrain.export")

OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
KICKOFF_PARAMS = {"_type", "_since", "_outputFormat", "_typeFilter", "_elements"}
CHUNK = 500

__all__ = ["ExportJob", "ExportRequest", "ExportService", "parse_export_params"]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export: `level` is system | patient | group (with `group_id`)."""

    level: str
    types: tuple[str, ...] | None = None
    since: float | None = None
    type_filters: tuple[tuple[str, str], ...] = ()  # (type, query)
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExportJob:
    """A job as stored: its status and, once completed, its manifest."""

    id: str
    status: str  # accepted | in-progress | completed | failed | cancelled
    request_url: str
    principal: str
    created_at: float
    completed_at: float | None
    manifest: dict[str, Any] | None
    error: str | None
    progress: str = ""


def _bad(name: str, message: str) -> InvalidInput:
    msg = f"parameter '{name}' {message}"
    return InvalidInput(msg, issues=[Issue("error", "invalid", msg, name)], code="export.invalid_parameter")


def parse_export_params(
    level: str, params: Sequence[tuple[str, str]], group_id: str | None = None
) -> ExportRequest:
    """Validate kick-off parameters; every unknown or malformed one is a 400."""
    types: list[str] | None = None
    since: float | None = None
    filters: list[tuple[str, str]] = []
    problems: list[Issue] = []
    for name, value in params:
        try:
            if name not in KICKOFF_PARAMS:
                raise _bad(name, "is not a $export parameter")
            if name == "_type":
                listed = [x.strip() for x in value.split(",") if x.strip()]
                unknown = [x for x in listed if not is_resource_type(x)]
                if unknown or not listed:
                    raise _bad(name, "lists an unknown resource type")
                types = [*(types or []), *listed]
            elif name == "_since":
                try:
                    since = parse_instant(value)
                except ValueError:
                    raise _bad(name, "must be a FHIR instant") from None
            elif name == "_outputFormat":
                if value not in OUTPUT_FORMATS:
                    raise _bad(name, "must be application/fhir+ndjson")
            elif name == "_typeFilter":
                for item in value.split(","):
                    rt, _, query = item.partition("?")
                    if not is_resource_type(rt) or not query:
                        raise _bad(name, "must be Type?search-parameters")
                    filters.append((rt, query))
            elif name == "_elements":
                raise InvalidInput(
                    "_elements is not supported by this server's $export",
                    issues=[Issue("error", "not-supported", "_elements is not supported", name)],
                    code="export.unsupported_parameter",
                )
        except InvalidInput as err:
            problems += err.issues
    if problems:
        raise InvalidInput(problems[0].diagnostics, issues=problems, code="export.invalid_parameter")
    return ExportRequest(
        level,
        tuple(dict.fromkeys(types)) if types else None,
        since,
        tuple(filters),
        group_id,
    )


class ExportService:
    """Runs export jobs on a background thread; writes one NDJSON file per resource type."""

    def __init__(self, repo: FhirRepository, export_dir: str | Path, base_url: str) -> None:
        self.repo = repo
        self.root = Path(export_dir)
        self.base_url = base_url.rstrip("/")
        self._queue: queue.Queue[tuple[str, RequestContext, ExportRequest] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._cancelled: set[str] = set()
        self._progress: dict[str, str] = {}
        self._lock = threading.Lock()

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker; jobs left unfinished by a previous process are marked failed."""
        with begin_write(self.repo.engine) as conn:
            conn.execute(
                update(t.export_job)
                .where(t.export_job.c.status.in_(["accepted", "in-progress"]))
                .values(status="failed", error="interrupted by a server restart", completed_at=time.time())
            )
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="healthbrain-export", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    # ---- the API -------------------------------------------------------------------------------
    def kick_off(
        self, ctx: RequestContext, request: ExportRequest, request_url: str, *, run_now: bool = False
    ) -> str:
        """Accept a job and queue it (or run it in this thread with `run_now`); returns its id."""
        with self.repo.audited(ctx, "export", request.level, request.group_id):
            self._authorize(ctx, request)
            job_id = new_id()
            with begin_write(self.repo.engine) as conn:
                conn.execute(
                    insert(t.export_job).values(
                        id=job_id,
                        status="accepted",
                        request_url=request_url,
                        params=orjson.dumps(_request_json(request)).decode(),
                        principal=ctx.principal.id,
                        created_at=time.time(),
                    )
                )
        if run_now:
            self._run(job_id, ctx, request)
        else:
            self._queue.put((job_id, ctx, request))
        return job_id

    def job(self, ctx: RequestContext, job_id: str) -> ExportJob:
        """The job, if it belongs to the caller (a job is visible to its requester only)."""
        with self.repo.engine.connect() as conn:
            row = conn.execute(select(t.export_job).where(t.export_job.c.id == job_id)).first()
        if row is None:
            raise NotFound("no such export job", code="export.not_found")
        if row.principal != ctx.principal.id and not ctx.is_system:
            raise Forbidden("the export job belongs to another principal", code="export.not_owner")
        manifest = orjson.loads(row.output) if row.output else None
        return ExportJob(
            row.id,
            row.status,
            row.request_url,
            row.principal,
            row.created_at,
            row.completed_at,
            manifest,
            row.error,
            self._progress.get(job_id, ""),
        )

    def cancel(self, ctx: RequestContext, job_id: str) -> None:
        """Cancel a running job or delete a finished job's files."""
        job = self.job(ctx, job_id)
        with self._lock:
            self._cancelled.add(job_id)
        with begin_write(self.repo.engine) as conn:
            conn.execute(
                update(t.export_job)
                .where(t.export_job.c.id == job_id)
                .values(status="cancelled", completed_at=time.time())
            )
        shutil.rmtree(self.root / job.id, ignore_errors=True)
        self.repo.audit.record(ctx, AuditEntry("export-cancel", None, job_id, "success"))

    def file_path(self, ctx: RequestContext, job_id: str, name: str) -> Path:
        """The path of one output file of a completed job owned by the caller."""
        job = self.job(ctx, job_id)
        if job.status != "completed" or job.manifest is None:
            raise NotFound("the export has no files (yet)", code="export.no_files")
        names = {str(o["url"]).rsplit("/", 1)[-1] for o in job.manifest.get("output", [])}
        if name not in names:
            raise NotFound("no such export file", code="export.no_file")
        self.repo.audit.record(ctx, AuditEntry("export-download", None, job_id, "success"))
        return self.root / job_id / name

    def export_to_dir(
        self, ctx: RequestContext, level: str, out: Path, *, params: Sequence[tuple[str, str]] = ()
    ) -> dict[str, Any]:
        """Run an export synchronously into `out` (the CLI); returns the manifest."""
        request = parse_export_params(level, params)
        with self.repo.audited(ctx, "export", level):
            self._authorize(ctx, request)
            return self._write(ctx, request, out, file_url=lambda name: str(out / name), job_id=None)

    # ---- the work --------------------------------------------------------------------------------
    def _authorize(self, ctx: RequestContext, request: ExportRequest) -> None:
        for rt in request.types or ("*",):
            self.repo.guard.authorize(ctx, "export", rt)
        for rt in {frt for frt, _ in request.type_filters}:
            self._filter_queries(rt, request)  # a malformed _typeFilter is a 400 at kick-off

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, ctx, request = item
            self._run(job_id, ctx, request)

    def _run(self, job_id: str, ctx: RequestContext, request: ExportRequest) -> None:
        self._set(job_id, status="in-progress")
        try:
            manifest = self._write(
                ctx,
                request,
                self.root / job_id,
                file_url=lambda name: f"{self.base_url}/$export-file/{job_id}/{name}",
                job_id=job_id,
            )
        except _Cancelled:
            return
        except HealthBrainError as err:
            self._set(job_id, status="failed", error=err.code, completed_at=time.time())
            return
        except Exception as exc:  # reported on the status URL, never swallowed
            log.exception("export.failed", extra={"fields": {"job": job_id}})
            self._set(job_id, status="failed", error=type(exc).__name__, completed_at=time.time())
            return
        finally:
            self._progress.pop(job_id, None)
        if job_id in self._cancelled:
            return
        self._set(
            job_id, status="completed", output=orjson.dumps(manifest).decode(), completed_at=time.time()
        )
        log.info(
            "export.completed",
            extra={"fields": {"job": job_id, "files": len(manifest["output"])}},
        )

    def _set(self, job_id: str, **values: Any) -> None:
        with begin_write(self.repo.engine) as conn:
            conn.execute(update(t.export_job).where(t.export_job.c.id == job_id).values(**values))

    def _write(
        self,
        ctx: RequestContext,
        request: ExportRequest,
        out: Path,
        *,
        file_url: Any,
        job_id: str | None,
    ) -> dict[str, Any]:
        started = time.time()
        out.mkdir(parents=True, exist_ok=True)
        output: list[dict[str, Any]] = []
        with self.repo.engine.connect() as conn:
            patients = self._patient_ids(conn, request)
            types = self._types(conn, request)
            for n, rt in enumerate(types, start=1):
                if job_id is not None:
                    self._progress[job_id] = f"{n}/{len(types)} types"
                count = 0
                path = out / f"{rt}.ndjson"
                fh: IO[bytes] | None = None
                try:
                    for batch in _batches(self._versions(ctx, conn, request, rt, patients)):
                        if job_id is not None and job_id in self._cancelled:
                            raise _Cancelled
                        readable = self.repo.guard.visible(
                            ctx, "export", [loads(v.content) for v in batch if v.content]
                        )
                        if not readable:
                            continue
                        if fh is None:
                            fh = path.open("wb")
                        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in readable))
                        count += len(readable)
                finally:
                    if fh is not None:
                        fh.close()
                if count:
                    output.append({"type": rt, "url": file_url(path.name), "count": count})
        self.repo.audit.record(
            ctx, AuditEntry("export-complete", None, job_id, "success", count=sum(o["count"] for o in output))
        )
        return {
            "transactionTime": instant(started),
            "request": self._request_url(job_id) if job_id else "",
            "requiresAccessToken": True,
            "output": output,
            "error": [],
        }

    def _request_url(self, job_id: str) -> str:
        with self.repo.engine.connect() as conn:
            return str(
                conn.execute(
                    select(t.export_job.c.request_url).where(t.export_job.c.id == job_id)
                ).scalar_one()
            )

    def _types(self, conn: Any, request: ExportRequest) -> list[str]:
        if request.types is not None:
            return list(request.types)
        present = sorted(self.repo.store.type_counts(conn))
        if request.level == "system":
            return present
        # Patient and Group exports cover the Patient compartment: the patients and what refers to them
        return [rt for rt in present if rt == "Patient" or self._refers_to_patients(conn, rt)]

    def _refers_to_patients(self, conn: Any, rt: str) -> bool:
        ref = t.idx_reference.c
        row = conn.execute(
            select(ref.res_id).where(ref.res_type == rt, ref.target_type == "Patient").limit(1)
        ).first()
        return row is not None

    def _patient_ids(self, conn: Any, request: ExportRequest) -> list[str] | None:
        if request.level == "system":
            return None
        if request.level == "group":
            cur = self.repo.store.read_current(conn, "Group", request.group_id or "")
            if cur is None or cur.deleted or not cur.content:
                raise NotFound("the Group is not known", code="export.no_group")
            group = loads(cur.content)
            ids = []
            for member in group.get("member") or []:
                ref = str((member.get("entity") or {}).get("reference") or "")
                rt, _, rid = ref.partition("/")
                if rt == "Patient" and rid and not member.get("inactive"):
                    ids.append(rid)
            return ids
        return [rid for rid, _ in self.repo.store.type_ids(conn, "Patient", None)]

    def _versions(
        self, ctx: RequestContext, conn: Any, request: ExportRequest, rt: str, patients: list[str] | None
    ) -> Iterator[StoredVersion]:
        queries = self._filter_queries(rt, request)

        def restrict(query: Query) -> Query:
            return self.repo.guard.restrict(ctx, "export", query)

        seen: set[str] = set()
        if patients is None:
            for q in queries:
                for v in self.repo.store.stream_search(conn, restrict(q), since=request.since):
                    if len(queries) == 1 or v.res_id not in seen:
                        seen.add(v.res_id)
                        yield v
            return
        for start in range(0, len(patients), CHUNK):
            chunk = patients[start : start + CHUNK]
            if rt == "Patient":
                ids = list(chunk)
            else:
                ids = self.repo.store.incoming_references(conn, rt, None, "Patient", chunk)
            ids = [i for i in dict.fromkeys(ids) if i not in seen]
            seen.update(ids)
            for id_start in range(0, len(ids), CHUNK):
                id_chunk = tuple(ids[id_start : id_start + CHUNK])
                emitted: set[str] = set()
                for q in queries:
                    narrowed = Query(q.resource_type, (*q.criteria, IdIn(id_chunk)), q.sort)
                    for v in self.repo.store.stream_search(conn, restrict(narrowed), since=request.since):
                        if v.res_id not in emitted:
                            emitted.add(v.res_id)
                            yield v

    def _filter_queries(self, rt: str, request: ExportRequest) -> list[Query]:
        """One query per `_typeFilter` of the type (OR between them), or the whole type."""
        filters = [q for frt, q in request.type_filters if frt == rt]
        if not filters:
            return [Query(rt)]
        return [self.repo.parser.parse(rt, parse_qsl(q, keep_blank_values=True)).query for q in filters]


class _Cancelled(Exception):
    """The job was cancelled while it ran."""


def _batches(versions: Iterable[StoredVersion], size: int = CHUNK) -> Iterator[list[StoredVersion]]:
    batch: list[StoredVersion] = []
    for v in versions:
        batch.append(v)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _request_json(request: ExportRequest) -> dict[str, Any]:
    return {
        "level": request.level,
        "types": list(request.types) if request.types else None,
        "since": request.since,
        "typeFilter": [f"{rt}?{q}" for rt, q in request.type_filters],
        "group": request.group_id,
    }
