"""Results mutual recognition, the shell: the ServiceRequest subscriber, prior-result searches through
the repository, and the DetectedIssue written when a reusable result exists."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from healthbrain.core.context import PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import split_reference
from healthbrain.quality.model import UNKNOWN_INSTITUTION
from healthbrain.quality.recognition import (
    LOINC,
    Order,
    PriorResult,
    Recognised,
    RecognitionCatalog,
    default_recognition,
    find_reusable,
    order_of,
    result_of,
)
from healthbrain.quality.recognition_out import reuse_issue
from healthbrain.quality.screening import institution_of
from healthbrain.quality.store import QualityStore

log = logging.getLogger("healthbrain.quality")
SUBSCRIBER = "quality.recognition"
# Patient reference -> every Patient reference of the same resident (the patient index's answer).
ResidentRefs = Callable[[str], Sequence[str]]
_MAX_RESULTS = 200


class RecognitionService:
    """Finds reusable prior results for orders; flags them on arrival and answers on request."""

    def __init__(
        self,
        repo: FhirRepository,
        catalog: RecognitionCatalog | None = None,
        *,
        residents: ResidentRefs | None = None,
        clock: Callable[[], float] = time.time,
        language: str = "zh_CN",
    ) -> None:
        self.repo = repo
        self.catalog = catalog or default_recognition()
        self.residents = residents
        self.clock = clock
        self.language = language
        self.store = QualityStore()
        self.ctx = system_context(PurposeOfUse.TREATMENT)
        self._orgs: dict[str, dict[str, Any] | None] = {}

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to new and changed ServiceRequests from now on (old orders are not re-flagged)."""
        dispatcher.register(SUBSCRIBER, self.handle, resource_types={"ServiceRequest"}, from_now=True)

    # ---- the subscriber ---------------------------------------------------------------------------
    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        if event.action == "delete" or resource is None:
            return
        order = self.order(self.ctx, resource, datetime.fromtimestamp(event.occurred_at, UTC))
        if order is None:
            return
        for rec in self.check(self.ctx, order):
            self._flag(order, rec)

    def _flag(self, order: Order, rec: Recognised) -> None:
        row = {
            "order_ref": order.ref, "test": rec.test.key, "result_ref": rec.result.ref,
            "result_institution": rec.result.institution or UNKNOWN_INSTITUTION,
            "result_time": rec.result.taken.isoformat(), "patient_ref": order.patient,
            "order_institution": order.institution or UNKNOWN_INSTITUTION,
            "same_institution": rec.same_institution, "issue_ref": None, "created_at": self.clock(),
        }  # fmt: skip
        with begin_write(self.repo.engine) as conn:
            if not self.store.put_recognition(conn, row):
                return
        issue = reuse_issue(rec, order.patient, order.ordered, self._org_name(rec.result.institution),
                            self.language)  # fmt: skip
        written = self.repo.update(self.ctx, "DetectedIssue", issue["id"], issue)
        with begin_write(self.repo.engine) as conn:
            self.store.set_issue(conn, order.ref, rec.test.key, f"DetectedIssue/{written.version.id}")
        log.info("quality.result_reusable", extra={"fields": {"order": order.ref, "test": rec.test.key,
                                                              "result": rec.result.ref}})  # fmt: skip

    # ---- checking ---------------------------------------------------------------------------------
    def order(self, ctx: RequestContext, resource: dict[str, Any], fallback: datetime) -> Order | None:
        """The Order of a ServiceRequest, attributed to its institution."""
        with self.repo.engine.connect() as conn:
            institution = institution_of(resource, lambda ref: self._provider(conn, ctx, ref))
        return order_of(resource, institution, fallback)

    def check(self, ctx: RequestContext, order: Order) -> list[Recognised]:
        """The reusable prior results for an order, searched with the caller's context."""
        tests = [t for t in (self.catalog.test_for(c) for c in order.codes) if t is not None]
        if not tests:
            return []
        longest = max(t.window_days for t in tests)
        codes = sorted({c for t in tests for c in t.result_codes})
        refs = self._resident_refs(ctx, order.patient)
        since = order.ordered - timedelta(days=longest)
        results = self._results(ctx, refs, codes, since)
        return find_reusable(order, results, self.catalog, self._recognised)

    def _resident_refs(self, ctx: RequestContext, patient: str) -> list[str]:
        refs = [patient]
        if self.residents is not None:
            refs += [r for r in self.residents(patient) if r not in refs]
        parts = split_reference(patient)
        if parts is not None:
            try:
                res = self.repo.read(ctx, "Patient", parts[1]).resource or {}
            except HealthBrainError:
                res = {}
            for link in res.get("link") or ():
                other = (link.get("other") or {}).get("reference") if isinstance(link, dict) else None
                if isinstance(other, str) and other.startswith("Patient/") and other not in refs:
                    refs.append(other)
        return refs

    def _results(
        self, ctx: RequestContext, refs: list[str], codes: list[str], since: datetime
    ) -> list[PriorResult]:
        params = [
            ("subject", ",".join(refs)),
            ("code", ",".join(f"{LOINC}|{c}" for c in codes)),
            ("date", f"ge{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"),
            ("_count", str(_MAX_RESULTS)),
        ]
        found: list[PriorResult] = []
        with self.repo.engine.connect() as conn:
            for rt in ("DiagnosticReport", "Observation"):
                try:
                    matches = run_search(self.repo, ctx, rt, params).matches
                except HealthBrainError as err:
                    log.warning("quality.recognition_search_failed", extra={"fields": {"code": err.code}})
                    continue
                for res in matches:
                    inst = institution_of(res, lambda ref: self._provider(conn, ctx, ref))
                    prior = result_of(res, self.catalog, inst)
                    if prior is not None:
                        found.append(prior)
        return found

    def _provider(self, conn: Connection, ctx: RequestContext, ref: str) -> str | None:
        known = self.store.record_institution(conn, ref)
        if known is not None and known != UNKNOWN_INSTITUTION:
            return known
        parts = split_reference(ref)
        if parts is None or parts[0] != "Encounter":
            return None
        try:
            enc = self.repo.read(ctx, "Encounter", parts[1]).resource or {}
        except HealthBrainError:
            return None
        provider = split_reference(str((enc.get("serviceProvider") or {}).get("reference", "")))
        return provider[1] if provider is not None else None

    def _organization(self, org_id: str) -> dict[str, Any] | None:
        if org_id not in self._orgs:
            try:
                self._orgs[org_id] = self.repo.read(self.ctx, "Organization", org_id).resource
            except HealthBrainError:
                self._orgs[org_id] = None
        return self._orgs[org_id]

    def _recognised(self, org_id: str) -> bool:
        return self.catalog.recognises(self._organization(org_id), org_id)

    def _org_name(self, org_id: str | None) -> str | None:
        org = self._organization(org_id) if org_id else None
        name = (org or {}).get("name")
        return str(name) if isinstance(name, str) else None

    def institution_name(self, org_id: str | None) -> str | None:
        """The display name of an institution (for answers and cards)."""
        return self._org_name(org_id)
