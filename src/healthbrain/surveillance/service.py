"""The surveillance service: the Condition subscriber, detection runs that write signals as FHIR
resources, and the CIDARS workflow (push to the county officer, verification, response)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import InvalidInput
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance.cases import CaseRecorder, ResidentOf
from healthbrain.surveillance.detection import RunSummary, run_detection
from healthbrain.surveillance.fhir_out import (
    SIGNAL_SYSTEM,
    detected_issue,
    evidence_observation,
    officer_task,
)
from healthbrain.surveillance.signal_store import OUTCOMES, SignalDraft, SignalStore
from healthbrain.surveillance.store import SurveillanceStore

log = logging.getLogger("healthbrain.surveillance")
CONDITION_SUBSCRIBER = "surveillance:conditions"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class SurveillanceService:
    """Everything surveillance, wired once per process by the entry point."""

    def __init__(
        self,
        repo: FhirRepository,
        *,
        resident_of: ResidentOf | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.store = SurveillanceStore(repo.engine)
        self.signals = SignalStore(repo.engine)
        self.recorder = CaseRecorder(repo, self.store, resident_of, clock)
        self.ctx = system_context(PurposeOfUse.PUBLIC_HEALTH)

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to Condition changes from the beginning of the outbox (cases need history)."""
        dispatcher.register(CONDITION_SUBSCRIBER, self.recorder.handle, resource_types={"Condition"})

    # ---- detection --------------------------------------------------------------------------------
    def detect(self, day: date) -> tuple[RunSummary, list[str]]:
        """Run detection for `day`; new alarms become signals (FHIR DetectedIssue + evidence
        Observation), pushed as a Task to the county officer when one is registered."""
        summary = run_detection(self.store, day)
        ids = [self._publish(draft) for draft in summary.drafts]
        log.info("surveillance.detection_run", extra={"fields": {"day": summary.day, "series": summary.series,
                                                                  "alarms": summary.alarms}})  # fmt: skip
        return summary, ids

    def _publish(self, draft: SignalDraft) -> str:
        now = self.clock()
        with begin_write(self.store.engine) as conn:
            sid, _ = self.signals.create(conn, draft, now)
            current = self.signals.get(sid, conn)
            officer = self.signals.officer_of(conn, draft.area)
        if current["issue_ref"] is not None:
            return sid  # already published (a rerun of the same day)
        obs = self.repo.create(self.ctx, evidence_observation(draft, sid)).version
        issue = self.repo.create(
            self.ctx, detected_issue(draft, sid, f"Observation/{obs.id}", _iso(now))
        ).version
        ref = f"DetectedIssue/{issue.id}"
        with begin_write(self.store.engine) as conn:
            self.signals.set_issue(conn, sid, ref)
        if officer is not None:
            self.assign(sid, officer, actor="system")
        return sid

    # ---- workflow ---------------------------------------------------------------------------------
    def assign(self, sid: str, practitioner: str, actor: str | None) -> dict[str, Any]:
        """Push the signal to an officer (a FHIR Task owned by the Practitioner)."""
        if not practitioner:
            raise InvalidInput("an assignee is required", code="surveillance.bad_assignee")
        now = self.clock()
        with begin_write(self.store.engine) as conn:
            signal = self.signals.step(conn, sid, "assign", actor, now, status="assigned",
                                       assignee=practitioner, assigned_at=now)  # fmt: skip
        if signal["issue_ref"]:
            self.repo.create(self.ctx, officer_task(signal["issue_ref"], practitioner, _iso(now)))
        return signal

    def start_verification(self, sid: str, actor: str | None) -> dict[str, Any]:
        now = self.clock()
        with begin_write(self.store.engine) as conn:
            return self.signals.step(conn, sid, "verify", actor, now, status="verifying")

    def conclude(self, sid: str, outcome: str, actor: str | None) -> dict[str, Any]:
        """Record the verification: an outbreak (confirmed) or not (excluded)."""
        if outcome not in OUTCOMES:
            raise InvalidInput("outcome must be outbreak or not_outbreak", code="surveillance.bad_outcome")
        now = self.clock()
        status = "confirmed" if outcome == "outbreak" else "excluded"
        with begin_write(self.store.engine) as conn:
            signal = self.signals.step(conn, sid, "conclude", actor, now, status=status, outcome=outcome,
                                       verified_at=now)  # fmt: skip
        self._mitigate(signal, f"verified-{outcome}", now, final=True)
        return signal

    def respond(self, sid: str, actor: str | None) -> dict[str, Any]:
        """Record that the response (investigation, control measures) was started."""
        now = self.clock()
        with begin_write(self.store.engine) as conn:
            signal = self.signals.step(conn, sid, "respond", actor, now, status="responded", responded_at=now)
        self._mitigate(signal, "response", now, final=True)
        return signal

    def _mitigate(self, signal: dict[str, Any], action: str, now: float, *, final: bool) -> None:
        ref = signal.get("issue_ref")
        if not ref:
            return
        issue = dict(self.repo.read(self.ctx, "DetectedIssue", ref.split("/", 1)[1]).resource or {})
        issue.setdefault("mitigation", []).append(
            {"action": {"coding": [{"system": SIGNAL_SYSTEM, "code": action}]}, "date": _iso(now)}
        )
        if final:
            issue["status"] = "final"
        self.repo.update(self.ctx, "DetectedIssue", ref.split("/", 1)[1], issue)
