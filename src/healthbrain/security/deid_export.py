"""The de-identified export of an approved data-use request: consented patients only, k-anonymous.

The runner reads through a `ResourceSource` (the FHIR repository's search, so every page is
audited under the export's own principal `deid-export:<request>` and purpose), keeps the patients
with an active permit Consent for the request's purpose (and no active deny) managed inside the
request's scope, makes their quasi-identifiers k-anonymous, and writes de-identified NDJSON per
resource type plus the residual-risk report. Only the requester of an approved request runs it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
from sqlalchemy import Engine, insert, select, update

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, Forbidden, HealthBrainError, NotFound
from healthbrain.security import governance_tables as gt
from healthbrain.security.approvals import RESOURCE, AuditRecorder, DataUseApprovals, DataUseRequest
from healthbrain.security.crypto import KeyRing
from healthbrain.security.deid import (
    Pseudonymizer,
    deidentify_patient,
    deidentify_resource,
    patient_of,
    quasi_values,
)
from healthbrain.security.deid_kanon import anonymize
from healthbrain.security.deid_spec import EXPORTABLE_TYPES
from healthbrain.security.labels import SENSITIVE_LABELS
from healthbrain.security.orgs import OrgDirectory

__all__ = [
    "DeidExporter",
    "ExportRun",
    "ResourceSource",
    "consented_patients",
    "derive_key",
    "export_context",
]

log = logging.getLogger("healthbrain.deid")
CHUNK = 100  # patients per search of their resources


class ResourceSource(Protocol):
    """Search through the FHIR repository (policy and audit apply), every page of it."""

    def search(
        self, ctx: RequestContext, resource_type: str, params: Sequence[tuple[str, str]]
    ) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class ExportRun:
    id: str
    request_id: str
    status: str  # running | completed | failed
    started_at: float
    finished_at: float | None
    released: int
    report: dict[str, Any] | None
    files: dict[str, int]
    error: str | None


def derive_key(keys: KeyRing, domain: str) -> bytes:
    """The pseudonymisation key of a domain, derived from the blind-index key (never stored)."""
    return hmac.new(
        keys.active("blind-index").secret, f"healthbrain-deid\x1f{domain}".encode(), hashlib.sha256
    ).digest()


def export_context(ctx: RequestContext, request: DataUseRequest) -> RequestContext:
    """The export's own principal: it reads for the request's purpose, linked to the user's request id."""
    principal = Principal(
        id=f"deid-export:{request.id}",
        kind="system",
        roles=frozenset({"system"}),
        organization=request.organization,
        scopes=frozenset({"system/*.read"}),
    )
    return RequestContext(principal, request.purpose, request_id=ctx.request_id, source=ctx.source)


def _purposes(consent: dict[str, Any]) -> set[str]:
    provision = consent.get("provision") or {}
    return {str(c.get("code")) for c in provision.get("purpose") or [] if isinstance(c, dict)}


def _moment(value: str, *, end: bool) -> float | None:
    """A FHIR date/dateTime as a timestamp; a date without time means its start (or its end)."""
    text = value.strip()
    if len(text) in (4, 7):  # YYYY or YYYY-MM
        text = f"{text}-01-01"[:10] if len(text) == 4 else f"{text}-01"
        if end:
            return None  # partial end dates are rare; read as open-ended would widen consent
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    extra = 86399.999 if end and "T" not in text else 0.0
    return moment.timestamp() + extra


def _in_period(consent: dict[str, Any], now: float) -> bool:
    period = (consent.get("provision") or {}).get("period") or {}
    start, end = period.get("start"), period.get("end")
    if start:
        moment = _moment(str(start), end=False)
        if moment is None or now < moment:
            return False  # an unreadable period never widens consent
    if end:
        moment = _moment(str(end), end=True)
        if moment is None or now > moment:
            return False
    return True


def _actors(consent: dict[str, Any]) -> set[str]:
    out = set()
    for actor in (consent.get("provision") or {}).get("actor") or []:
        ref = str(((actor or {}).get("reference") or {}).get("reference") or "")
        if ref.startswith("Organization/"):
            out.add(ref.split("/", 1)[1])
    return out


def consented_patients(
    consents: Iterable[dict[str, Any]], purpose: PurposeOfUse, requester_orgs: set[str], now: float
) -> set[str]:
    """Patients with an active, current permit Consent for `purpose` and no such deny.

    A permit naming organisations covers the request only when one of them is the requester's
    organisation or above it (`requester_orgs`); a deny applies whoever it names.
    """
    permits: set[str] = set()
    denies: set[str] = set()
    for c in consents:
        ref = str((c.get("patient") or {}).get("reference") or "")
        if c.get("status") != "active" or not ref.startswith("Patient/") or purpose.value not in _purposes(c):
            continue
        if not _in_period(c, now):
            continue
        kind = (c.get("provision") or {}).get("type")
        pid = ref.split("/", 1)[1]
        if kind == "deny":
            denies.add(pid)
        elif kind == "permit" and (not (actors := _actors(c)) or actors & requester_orgs):
            permits.add(pid)
    return permits - denies


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sensitive(resource: dict[str, Any]) -> bool:
    return any(
        isinstance(c, dict) and c.get("code") in SENSITIVE_LABELS
        for c in (resource.get("meta") or {}).get("security") or []
    )


def _write(out: IO[bytes], resource: dict[str, Any]) -> None:
    out.write(orjson.dumps(resource) + b"\n")


class DeidExporter:
    """Runs approved requests' exports and keeps each run with its report."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        orgs: OrgDirectory,
        approvals: DataUseApprovals,
        audit: AuditRecorder,
        export_dir: str | Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.orgs = orgs
        self.approvals = approvals
        self.audit = audit
        self.root = Path(export_dir) / "deid"
        self.clock = clock

    def run(self, ctx: RequestContext, request_id: str, source: ResourceSource) -> ExportRun:
        """Run the export of an approved request (its requester only); returns the finished run."""
        try:
            if self.approvals.gate is not None:
                self.approvals.gate(ctx)
            request = self.approvals.get(ctx, request_id)
        except (NotFound, Forbidden) as err:
            self._refuse(ctx, request_id, err.code)
            raise
        if not ctx.is_system and ctx.principal.id != request.requester:
            self._refuse(ctx, request_id, "governance.not_requester")
            raise Forbidden("only the requester runs an approved export", code="governance.not_requester")
        if not request.runnable:
            self._refuse(ctx, request_id, "governance.not_approved")
            raise Conflict("the request has not passed all three approvals", code="governance.not_approved")
        run_id = uuid.uuid4().hex
        started = self.clock()
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(gt.deid_export).values(
                    id=run_id,
                    request_id=request.id,
                    principal=ctx.principal.id,
                    status="running",
                    started_at=started,
                    released=0,
                )
            )
        try:
            report, files, released = self._export(ctx, request, run_id, source)
        except HealthBrainError as err:
            self._finish(run_id, "failed", error=err.code)
            self._refuse(ctx, request_id, err.code)
            raise
        except Exception:
            self._finish(run_id, "failed", error="internal")
            self._refuse(ctx, request_id, "internal")
            raise
        self._finish(run_id, "completed", report=report, files=files, released=released)
        self.approvals.mark_exported(request.id)
        self.audit.record(
            ctx, AuditEntry("data-use.export", RESOURCE, request.id, "success", run_id, released)
        )
        log.info(
            "deid.export", extra={"fields": {"request": request.id, "run": run_id, "released": released}}
        )
        return self.get_run(ctx, request.id, run_id)

    def _refuse(self, ctx: RequestContext, request_id: str, code: str) -> None:
        self.audit.record(ctx, AuditEntry("data-use.export", RESOURCE, request_id, "failure", code))

    def _scope_units(self, request: DataUseRequest) -> set[str]:
        roots = request.spec.scope or (self.approvals.province_of(request.organization),)
        return {u for root in roots for u in self.orgs.subtree(root)}

    def _candidates(
        self, xctx: RequestContext, request: DataUseRequest, source: ResourceSource
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        consents = [
            c
            for kind in ("permit", "deny")
            for c in source.search(
                xctx,
                "Consent",
                [
                    ("status", "active"),
                    ("provision-type", kind),
                    ("purpose", request.purpose.value),
                    ("_count", "1000"),
                ],
            )
        ]
        requester_orgs = {request.organization, *self.orgs.ancestors(request.organization)}
        consented = sorted(consented_patients(consents, request.purpose, requester_orgs, self.clock()))
        units = self._scope_units(request)
        patients: list[dict[str, Any]] = []
        for chunk in _chunks(consented):
            for p in source.search(xctx, "Patient", [("_id", ",".join(chunk)), ("_count", "1000")]):
                org = str((p.get("managingOrganization") or {}).get("reference") or "")
                if org.startswith("Organization/") and org.split("/", 1)[1] in units:
                    patients.append(p)
        patients.sort(key=lambda p: str(p["id"]))
        return patients, {"consented": len(consented), "in_scope": len(patients)}

    def _export(
        self, ctx: RequestContext, request: DataUseRequest, run_id: str, source: ResourceSource
    ) -> tuple[dict[str, Any], dict[str, int], int]:
        spec = request.spec
        xctx = export_context(ctx, request)
        patients, inclusion = self._candidates(xctx, request, source)
        now = self.clock()
        result = anonymize(
            [quasi_values(p) for p in patients],
            spec.quasi_identifiers,
            k=spec.k,
            max_suppression=spec.max_suppression,
            reference_year=datetime.fromtimestamp(now, UTC).year,
        )
        pseudo = Pseudonymizer(
            derive_key(self.keys, spec.pseudonym_domain or request.id), spec.date_shift_days
        )
        folder = self.root / request.id / run_id
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, int] = {"Patient": len(result.released)}
        with (folder / "Patient.ndjson").open("wb") as out:
            for i, fragment in sorted(result.released.items()):
                _write(out, deidentify_patient(patients[i], fragment, pseudo))
        released_ids = [str(patients[i]["id"]) for i in sorted(result.released)]
        withheld = 0
        for rt in spec.resource_types:
            files[rt], skipped = self._write_type(
                xctx, source, rt, released_ids, pseudo, folder, spec.include_sensitive
            )
            withheld += skipped
        report = {
            "k_anonymity": result.report.to_json(),
            "inclusion": {
                **inclusion,
                "released": len(result.released),
                "suppressed": len(result.suppressed),
            },
            "sensitive_withheld": withheld,
            "date_shift_days": spec.date_shift_days,
            "seconds": round(self.clock() - now, 3),
        }
        (folder / "risk-report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        return report, files, len(result.released)

    def _write_type(
        self,
        xctx: RequestContext,
        source: ResourceSource,
        rt: str,
        released: list[str],
        pseudo: Pseudonymizer,
        folder: Path,
        include_sensitive: bool,
    ) -> tuple[int, int]:
        """Write the released patients' resources of one type; returns (written, sensitive withheld)."""
        param, wanted = EXPORTABLE_TYPES[rt], set(released)
        written = withheld = 0
        with (folder / f"{rt}.ndjson").open("wb") as out:
            for chunk in _chunks(released):
                refs = ",".join(f"Patient/{pid}" for pid in chunk)
                for res in source.search(xctx, rt, [(param, refs), ("_count", "1000")]):
                    pid = patient_of(res)
                    if pid not in wanted:
                        continue
                    if _sensitive(res) and not include_sensitive:
                        withheld += 1
                        continue
                    _write(out, deidentify_resource(res, pid, pseudo))
                    written += 1
        return written, withheld

    def _finish(self, run_id: str, status: str, **values: Any) -> None:
        row: dict[str, Any] = {"status": status, "finished_at": self.clock()}
        for key in ("report", "files"):
            if key in values:
                row[key] = orjson.dumps(values[key]).decode()
        if "released" in values:
            row["released"] = values["released"]
        if "error" in values:
            row["error"] = str(values["error"])[:128]
        with begin_write(self.engine) as conn:
            conn.execute(update(gt.deid_export).where(gt.deid_export.c.id == run_id).values(**row))

    # ---- reading runs ----------------------------------------------------------------------------
    def runs(self, ctx: RequestContext, request_id: str) -> list[ExportRun]:
        """The export runs of a request the principal may see, newest first."""
        self.approvals.get(ctx, request_id)
        c = gt.deid_export.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(gt.deid_export).where(c.request_id == request_id).order_by(c.started_at.desc())
            ).all()
        return [_run(r._mapping) for r in rows]

    def get_run(self, ctx: RequestContext, request_id: str, run_id: str | None = None) -> ExportRun:
        """One run (default: the newest completed one)."""
        runs = self.runs(ctx, request_id)
        found = next((r for r in runs if (r.id == run_id if run_id else r.status == "completed")), None)
        if found is None:
            raise NotFound("no such export run", code="governance.no_export")
        return found

    def file_path(self, ctx: RequestContext, request_id: str, run_id: str, resource_type: str) -> Path:
        """An NDJSON file of a completed run; only its requester downloads the data."""
        request = self.approvals.get(ctx, request_id)
        if not ctx.is_system and ctx.principal.id != request.requester:
            raise Forbidden("only the requester downloads the export", code="governance.not_requester")
        run = self.get_run(ctx, request_id, run_id)
        if run.status != "completed" or resource_type not in run.files:
            raise NotFound("no such export file", code="governance.no_export")
        path = self.root / request_id / run.id / f"{resource_type}.ndjson"
        if not path.is_file():
            raise NotFound("no such export file", code="governance.no_export")
        return path


def _run(row: Any) -> ExportRun:
    return ExportRun(
        id=row["id"],
        request_id=row["request_id"],
        status=row["status"],
        started_at=float(row["started_at"]),
        finished_at=float(row["finished_at"]) if row["finished_at"] is not None else None,
        released=int(row["released"] or 0),
        report=orjson.loads(row["report"]) if row["report"] else None,
        files=orjson.loads(row["files"]) if row["files"] else {},
        error=row["error"],
    )
