"""Access-anomaly detection: an audit-sink listener that flags, alerts and optionally blocks.

`AnomalyDetector.observe` is registered in `HashChainAuditSink.listeners`, so it sees every audited
interaction synchronously, in the request: it keeps per-principal state in memory, evaluates the
rules of `anomaly_rules` in microseconds, suspends the principal at once when a blocking rule fires
(`BlockingPolicy` then refuses its next request), and hands the anomaly to a writer thread that
stores it in `security_anomaly` (listed for the security auditor by /api/v1/security/anomalies)
within milliseconds. Baselines are learned from the live stream and can be warmed from the audit
trail at start-up. Blocks are stored too (an open anomaly with `blocked`), so every process honours
them after its next refresh, and an auditor lifts one by resolving the anomaly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, insert, select, update

from healthbrain.core.access import AuditEntry, Subject
from healthbrain.core.context import RequestContext
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, Forbidden, HealthBrainError, InvalidInput, NotFound
from healthbrain.security import tables as t
from healthbrain.security.anomaly_rules import AccessEvent, AnomalySettings, PrincipalState, evaluate, learn
from healthbrain.security.approvals import AuditRecorder
from healthbrain.storage import tables as st
from healthbrain.storage.query import Criterion

__all__ = ["Anomaly", "AnomalyDetector", "BlockingPolicy"]

log = logging.getLogger("healthbrain.anomaly")
RESOLUTIONS = frozenset({"acknowledged", "dismissed"})
_STOP = object()


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One raised anomaly (ids and counts only)."""

    id: str
    detected_at: float
    principal: str
    rule: str
    severity: str
    detail: dict[str, Any]
    blocked: bool


def _event(ctx: RequestContext, entry: AuditEntry, now: float) -> AccessEvent:
    return AccessEvent(
        at=now,
        principal=ctx.principal.id,
        kind=ctx.principal.kind,
        purpose=str(ctx.purpose.value),
        action=entry.action,
        resource_type=entry.resource_type,
        outcome=entry.outcome,
        detail=entry.detail,
        patients=entry.patients,
        params=entry.params,
        count=entry.count,
        request_id=ctx.request_id,
    )


class AnomalyDetector:
    """Rules and baselines per principal; the listener, the block list and the anomaly writer."""

    def __init__(
        self, engine: Engine, settings: AnomalySettings | None = None, audit: AuditRecorder | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings or AnomalySettings()
        self.audit = audit
        self.alert_listeners: list[Callable[[Anomaly], None]] = []
        self._states: dict[str, PrincipalState] = {}
        self._lock = threading.Lock()
        self._blocked: dict[str, str] = {}  # principal → the anomaly that blocked it
        self._unstored: dict[str, str] = {}  # blocks raised here, not yet written
        self._watched: frozenset[str] = self.settings.watched_patients  # the list and the tagged
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._refreshed_at = 0.0

    # ---- the listener ----------------------------------------------------------------------------
    def observe(self, ctx: RequestContext, entry: AuditEntry, now: float) -> None:
        """Judge one audited interaction (HashChainAuditSink listener); never raises."""
        s = self.settings
        if not s.enabled or ctx.principal.kind not in s.monitored_kinds or entry.detail == "security.blocked":
            return
        try:
            event = _event(ctx, entry, now)
            with self._lock:
                state = self._states.setdefault(event.principal, PrincipalState())
                findings = evaluate(state, event, s, self._watched)
                raised = [self._raise(event, f.rule, f.severity, f.detail) for f in findings]
            for anomaly in raised:
                self._deliver(anomaly)
        except Exception:  # the request must not fail because a rule did
            log.exception("anomaly.observe_failed", extra={"fields": {"request_id": ctx.request_id}})

    def _raise(self, e: AccessEvent, rule: str, severity: str, detail: dict[str, Any]) -> Anomaly:
        block = rule in self.settings.block_rules
        anomaly = Anomaly(
            id=uuid.uuid4().hex,
            detected_at=e.at,
            principal=e.principal,
            rule=rule,
            severity=severity,
            detail={**detail, "request_id": e.request_id},
            blocked=block,
        )
        if block:
            self._blocked[e.principal] = self._unstored[e.principal] = anomaly.id
        return anomaly

    def _deliver(self, anomaly: Anomaly) -> None:
        log.warning(
            "anomaly.raised",
            extra={
                "fields": {
                    "id": anomaly.id,
                    "principal": anomaly.principal,
                    "rule": anomaly.rule,
                    "severity": anomaly.severity,
                    "blocked": anomaly.blocked,
                }
            },
        )
        if self._thread is not None:
            self._queue.put(anomaly)
        else:
            try:
                self._store([anomaly])
            except Exception:
                log.exception("anomaly.store_failed", extra={"fields": {"id": anomaly.id}})
        for listener in self.alert_listeners:
            try:
                listener(anomaly)
            except Exception:
                log.exception("anomaly.alert_failed", extra={"fields": {"id": anomaly.id}})

    # ---- storing ---------------------------------------------------------------------------------
    def _store(self, anomalies: Sequence[Anomaly]) -> None:
        rows = [
            {
                "id": a.id,
                "detected_at": a.detected_at,
                "principal": a.principal[:128],
                "rule": a.rule,
                "severity": a.severity,
                "detail": orjson.dumps(a.detail).decode(),
                "audit_seq": None,
                "blocked": a.blocked,
                "status": "open",
            }
            for a in anomalies
        ]
        with begin_write(self.engine) as conn:
            conn.execute(insert(t.anomaly), rows)
        stored = {a.id for a in anomalies}
        with self._lock:
            self._unstored = {p: i for p, i in self._unstored.items() if i not in stored}

    def start(self) -> None:
        """Write anomalies from a thread (the request never waits on the database) and refresh lists."""
        if self._thread is None:
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="healthbrain-anomaly", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def flush(self) -> None:
        """Wait until every raised anomaly is stored."""
        if self._thread is not None:
            self._queue.join()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.settings.refresh_seconds)
            except queue.Empty:
                self._safe_refresh()
                continue
            batch = [item]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            anomalies = [a for a in batch if isinstance(a, Anomaly)]
            try:
                if anomalies:
                    self._store(anomalies)
            except Exception:
                log.exception("anomaly.store_failed", extra={"fields": {"count": len(anomalies)}})
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(a is _STOP for a in batch):
                return
            if time.monotonic() - self._refreshed_at > self.settings.refresh_seconds:
                self._safe_refresh()

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("anomaly.refresh_failed")

    # ---- watch list and block list ---------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the tagged (VIP, employee) patients and the stored blocks."""
        tok = st.idx_token.c
        a = t.anomaly.c
        with self.engine.connect() as conn:
            tagged = {
                r.res_id
                for r in conn.execute(
                    select(tok.res_id).where(
                        tok.res_type == "Patient",
                        tok.param == "_tag",
                        tok.code.in_(sorted(self.settings.watch_tags)),
                    )
                )
            }
            blocks = conn.execute(
                select(a.principal, a.id)
                .where(a.blocked.is_(True), a.status == "open")
                .order_by(a.detected_at)
            ).all()
        with self._lock:
            self._watched = self.settings.watched_patients | frozenset(tagged)
            # a block raised here but not yet written stays; one resolved elsewhere is lifted
            self._blocked = {**{r.principal: r.id for r in blocks}, **self._unstored}
        self._refreshed_at = time.monotonic()

    @property
    def watched(self) -> frozenset[str]:
        return self._watched

    def is_blocked(self, principal: str) -> bool:
        return principal in self._blocked

    def check(self, ctx: RequestContext) -> None:
        """Refuse a suspended principal (call first in the policy's `authorize`)."""
        if not ctx.is_system and ctx.principal.id in self._blocked:
            raise Forbidden("the account is suspended pending a security review", code="security.blocked")

    def resolve(self, ctx: RequestContext, anomaly_id: str, status: str) -> None:
        """An auditor's verdict on an open anomaly (audited); resolving a blocking one lifts the block."""
        try:
            principal = self._resolve(anomaly_id, status)
        except HealthBrainError as err:
            self._audit(ctx, anomaly_id, "failure", err.code)
            raise
        with self._lock:
            if self._blocked.get(principal) == anomaly_id:
                del self._blocked[principal]
        self._audit(ctx, anomaly_id, "success", status)
        self.refresh()

    def _resolve(self, anomaly_id: str, status: str) -> str:
        if status not in RESOLUTIONS:
            raise InvalidInput("status must be acknowledged or dismissed", code="governance.invalid_status")
        a = t.anomaly.c
        with begin_write(self.engine) as conn:
            row = conn.execute(select(a.principal, a.status).where(a.id == anomaly_id)).first()
            if row is None:
                raise NotFound("no such anomaly", code="governance.no_anomaly")
            if row.status != "open":
                raise Conflict("the anomaly is already resolved", code="governance.resolved")
            conn.execute(update(t.anomaly).where(a.id == anomaly_id).values(status=status))
        return str(row.principal)

    def _audit(self, ctx: RequestContext, anomaly_id: str, outcome: str, detail: str) -> None:
        if self.audit is not None:
            self.audit.record(
                ctx, AuditEntry("anomaly.resolve", "AccessAnomaly", anomaly_id, outcome, detail)
            )

    # ---- baselines -------------------------------------------------------------------------------
    def warm_up(self, since: float, limit: int = 200_000) -> int:
        """Learn baselines from the audit trail since `since` (no alerts); returns the records read."""
        a = t.audit.c
        kinds = sorted(self.settings.monitored_kinds)
        stmt = (
            select(
                a.recorded_at,
                a.principal,
                a.principal_kind,
                a.purpose,
                a.action,
                a.resource_type,
                a.outcome,
                a.detail,
                a.patients,
                a.count.label("returned"),
                a.request_id,
            )
            .where(a.recorded_at >= since, a.principal_kind.in_(kinds), a.outcome == "success")
            .order_by(a.seq.desc())
            .limit(limit)
        )
        read = 0
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for r in reversed(rows):  # the newest `limit` records, replayed in order
            patients = tuple(orjson.loads(r.patients))
            event = AccessEvent(
                r.recorded_at,
                r.principal,
                r.principal_kind,
                r.purpose,
                r.action,
                r.resource_type,
                r.outcome,
                r.detail,
                patients,
                (),
                r.returned,
                r.request_id,
            )
            with self._lock:
                learn(self._states.setdefault(r.principal, PrincipalState()), event, self.settings)
            read += 1
        return read


class _Policy(Protocol):
    def authorize(self, ctx: RequestContext, action: str, resource_type: str) -> None: ...

    def permitted(self, ctx: RequestContext, action: str, subjects: Sequence[Subject]) -> list[bool]: ...

    def constraints(
        self, ctx: RequestContext, action: str, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]: ...


class BlockingPolicy:
    """An access policy that refuses suspended principals, then asks the wrapped policy."""

    def __init__(self, inner: _Policy, detector: AnomalyDetector) -> None:
        self.inner = inner
        self.detector = detector

    def authorize(self, ctx: RequestContext, action: str, resource_type: str) -> None:
        self.detector.check(ctx)
        self.inner.authorize(ctx, action, resource_type)

    def permitted(self, ctx: RequestContext, action: str, subjects: Sequence[Subject]) -> list[bool]:
        return self.inner.permitted(ctx, action, subjects)

    def constraints(
        self, ctx: RequestContext, action: str, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]:
        return self.inner.constraints(ctx, action, resource_type, patient_param)
