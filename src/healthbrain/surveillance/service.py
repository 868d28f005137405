"""The surveillance service: the Condition and Observation subscribers, detection runs (per county
series and the space-time scan across neighbouring counties) that write signals as FHIR resources,
weekly forecasts, and the CIDARS workflow (push to the county officer, verification, response)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import InvalidInput, Unprocessable
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance.adjacency import Adjacency
from healthbrain.surveillance.casedef import BY_KEY, SYNDROME_BY_KEY
from healthbrain.surveillance.cases import CaseRecorder, ResidentOf
from healthbrain.surveillance.clusters import ClusterOptions, ScanSummary, run_scan
from healthbrain.surveillance.counts import COUNTY, WEEK, check_level
from healthbrain.surveillance.detection import RECENT_DAYS, RunSummary, run_detection
from healthbrain.surveillance.fhir_out import (
    SIGNAL_SYSTEM,
    detected_issue,
    evidence_observation,
    officer_task,
)
from healthbrain.surveillance.forecast import ForecastOptions, WeeklyForecast, forecast_weekly, history_weeks
from healthbrain.surveillance.signal_store import OUTCOMES, SignalDraft, SignalStore
from healthbrain.surveillance.store import SurveillanceStore

log = logging.getLogger("healthbrain.surveillance")
CONDITION_SUBSCRIBER = "surveillance:conditions"
OBSERVATION_SUBSCRIBER = "surveillance:observations"


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
        adjacency: Adjacency | None = None,
        cluster_options: ClusterOptions | None = None,
    ) -> None:
        """Wire the service.

        Args:
            repo: the FHIR repository (reports are read and signals written through it).
            resident_of: the patient index's resolver of a Patient reference to its resident, so
                that one resident's records at several institutions are one case.
            clock: seconds since the epoch (tests pass their own).
            adjacency: neighbouring counties beyond those of one city (a region's adjacency file).
            cluster_options: options of the nightly space-time scan.
        """
        self.repo = repo
        self.adjacency = adjacency
        self.cluster_options = cluster_options or ClusterOptions()
        self.clock = clock
        self.store = SurveillanceStore(repo.engine)
        self.signals = SignalStore(repo.engine)
        self.recorder = CaseRecorder(repo, self.store, resident_of, clock)
        self.ctx = system_context(PurposeOfUse.PUBLIC_HEALTH)

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to Condition and Observation changes from the beginning of the outbox (cases
        need history)."""
        dispatcher.register(CONDITION_SUBSCRIBER, self.recorder.handle, resource_types={"Condition"})
        dispatcher.register(
            OBSERVATION_SUBSCRIBER, self.recorder.handle_observation, resource_types={"Observation"}
        )

    # ---- detection --------------------------------------------------------------------------------
    def detect(self, day: date) -> tuple[RunSummary, list[str]]:
        """Run the per-county detectors for `day`; new alarms become signals (FHIR DetectedIssue +
        evidence Observation), pushed as a Task to the county officer when one is registered."""
        self.reconcile(day - timedelta(days=RECENT_DAYS))
        summary = run_detection(self.store, day)
        ids = [self._publish(draft) for draft in summary.drafts]
        log.info("surveillance.detection_run", extra={"fields": {"day": summary.day, "series": summary.series,
                                                                  "alarms": summary.alarms}})  # fmt: skip
        return summary, ids

    def reconcile(self, since: date) -> int:
        """Cases recorded under a Patient reference because the patient index had not linked the
        record yet are given to their resident now, and merged with the resident's other case of the
        same disease and episode; returns how many cases were merged away."""
        if self.recorder.resident_of is None:
            return 0
        merged = 0
        for ref in self.store.unresolved(since):
            resident = self.recorder.resident_of(ref)
            if resident is not None and resident != ref:
                with begin_write(self.store.engine) as conn:
                    merged += self.store.rekey(conn, ref, resident, self.clock())
        if merged:
            log.info("surveillance.cases_merged", extra={"fields": {"merged": merged}})
        return merged

    def scan(self, day: date) -> tuple[ScanSummary, list[str]]:
        """Run the space-time scan over neighbouring counties for `day`; significant clusters become
        signals whose evidence lists the cluster's counties, window and p-value."""
        summary = run_scan(self.store, day, self.adjacency, self.cluster_options)
        ids = [self._publish(draft) for draft in summary.drafts]
        log.info("surveillance.scan_run", extra={"fields": {"day": summary.day, "diseases": summary.diseases,
                                                             "clusters": summary.clusters,
                                                             "signals": len(ids)}})  # fmt: skip
        return summary, ids

    # ---- forecasts --------------------------------------------------------------------------------
    def forecast(
        self,
        key: str,
        area: str | None = None,
        *,
        level: str = COUNTY,
        as_of: date | None = None,
        options: ForecastOptions | None = None,
    ) -> WeeklyForecast:
        """Forecast a disease's or syndrome's weekly cases in an area (or the whole region) 1–4
        weeks after the last complete ISO week by `as_of` (default: the last day with a case).

        Raises:
            InvalidInput: an unknown key or level.
            Unprocessable: `surveillance.too_little_history` with fewer than four complete weeks.
        """
        if key not in BY_KEY and key not in SYNDROME_BY_KEY:
            raise InvalidInput("unknown disease or syndrome", code="surveillance.unknown_key")
        check_level(level, WEEK)
        first, last = self.store.first_day(), as_of or self.store.last_day()
        weeks = history_weeks(first, last) if first is not None and last is not None else []
        if len(weeks) < 4:
            raise Unprocessable(
                "fewer than four complete weeks of counts to forecast from",
                code="surveillance.too_little_history",
            )
        panel = self.store.weekly_panel(key, level, weeks)
        if area is None:  # the whole region: its total joins the pooled fit
            target = [float(sum(v[i] for v in panel.values())) for i in range(len(weeks))]
            panel = {**panel, "": target}
        else:
            target = panel.get(area, [0.0] * len(weeks))
        return forecast_weekly(weeks, target, panel, options)

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
