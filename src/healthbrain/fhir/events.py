"""The outbox dispatcher: every committed change reaches each subscriber at least once, in order per resource.

Subscribers keep a cursor into `fhir_outbox`. A failed delivery is parked in `fhir_event_failure` and
retried with exponential backoff; later events of the same resource wait behind it, so per-resource
order holds. After `max_attempts` the event is dead-lettered and can be replayed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from healthbrain.core.db import begin_write
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.resources import loads
from healthbrain.storage import tables as t
from healthbrain.storage.store import SqlResourceStore

log = logging.getLogger("healthbrain.events")


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One committed change; (resource_type, resource_id, version_id) identifies it for idempotency."""

    seq: int
    resource_type: str
    resource_id: str
    version_id: int
    action: str  # create | update | delete
    occurred_at: float


Handler = Callable[[ChangeEvent, dict[str, Any] | None], None]
Filter = Callable[[ChangeEvent, dict[str, Any] | None], bool]


@dataclass(slots=True)
class Subscriber:
    name: str
    handler: Handler
    resource_types: frozenset[str] | None
    accepts: Filter | None
    # called after each delivered batch and after each retried event, before the cursor moves or the
    # failure is cleared: a subscriber that writes behind commits here (when it raises, the batch is
    # delivered again, or the retry counts as failed)
    after_batch: Callable[[], object] | None = None
    # called with the events of a batch it is about to be given (of its types, not those waiting
    # behind a failure), before the first: a subscriber reads what they need in bulk here
    before_batch: Callable[[Sequence[ChangeEvent]], object] | None = None


OutboxRow = tuple[int, str, str, int, str, float]  # seq, type, id, version, action, occurred at
Parked = tuple[ChangeEvent, int, str]  # event, attempts, error


class EventDispatcher:
    """Delivers outbox events to registered subscribers, in-process (the embedded default)."""

    def __init__(
        self,
        engine: Engine,
        settings: EventSettings | None = None,
        clock: Callable[[], float] = time.time,
        *,
        store: SqlResourceStore | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or EventSettings()
        self.clock = clock
        # the repository's store, so that subscribers read sealed values in the clear
        self.store = store or SqlResourceStore()
        self.subscribers: dict[str, Subscriber] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # contents read for the dispatch round in progress, shared by its subscribers
        self._contents: dict[tuple[str, str, int], str | None] = {}
        # subscribers another process is delivering to for the moment (a catch-up): passed over
        self._paused: set[str] = set()

    # ---- registration ------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        handler: Handler,
        *,
        resource_types: set[str] | None = None,
        accepts: Filter | None = None,
        from_now: bool = False,
        after_batch: Callable[[], object] | None = None,
        before_batch: Callable[[Sequence[ChangeEvent]], object] | None = None,
    ) -> None:
        """Add a subscriber; a new one starts at the beginning of the outbox unless `from_now`."""
        with self._lock:
            self.subscribers[name] = Subscriber(
                name, handler, frozenset(resource_types) if resource_types else None, accepts, after_batch,
                before_batch,
            )  # fmt: skip
            with begin_write(self.engine) as conn:
                known = conn.execute(
                    select(t.event_cursor.c.position).where(t.event_cursor.c.subscriber == name)
                ).first()
                if known is None:
                    start = self.store.outbox_head(conn) if from_now else 0
                    conn.execute(
                        insert(t.event_cursor).values(
                            subscriber=name, position=start, updated_at=self.clock()
                        )
                    )

    def unregister(self, name: str) -> None:
        with self._lock:
            self.subscribers.pop(name, None)

    def pause(self, names: set[str]) -> None:
        """Pass over `names` until `resume`: another process delivers to them meanwhile."""
        with self._lock:
            self._paused |= names

    def resume(self, name: str) -> None:
        with self._lock:
            self._paused.discard(name)
        self._wake.set()

    @property
    def paused(self) -> frozenset[str]:
        return frozenset(self._paused)

    # ---- delivery ------------------------------------------------------------------------------
    def dispatch_once(self) -> int:
        """Deliver what is due to every subscriber; returns how many events were handled.

        An event counts when it was delivered, retried, or passed over because the subscriber
        does not want it: a subscriber of Conditions still moves past a batch of Patients.
        """
        handled = 0
        with self._lock:
            try:
                for sub in list(self.subscribers.values()):
                    if sub.name in self._paused:
                        continue
                    handled += self._retry_due(sub)
                    handled += self._advance(sub)
            finally:
                self._contents.clear()
        return handled

    def drain_one(self, name: str, *, progress: Callable[[int], object] | None = None) -> int:
        """Deliver to subscriber `name` alone until it is at the head of the outbox (a catch-up
        process); returns how many events it went through. `progress` gets the running count."""
        sub = self.subscribers[name]
        total = 0
        while True:
            with self._lock:
                try:
                    n = self._retry_due(sub) + self._advance(sub)
                finally:
                    self._contents.clear()
            if n == 0:
                return total
            total += n
            if progress is not None:
                progress(total)

    def drain(self, max_rounds: int = 1000) -> int:
        """Dispatch until every subscriber is at the head of the outbox and nothing is due (tests, CLI)."""
        total = 0
        for _ in range(max_rounds):
            n = self.dispatch_once()
            total += n
            if n == 0:
                break
        return total

    def _advance(self, sub: Subscriber) -> int:
        with self.engine.connect() as conn:
            position = conn.execute(
                select(t.event_cursor.c.position).where(t.event_cursor.c.subscriber == sub.name)
            ).scalar_one()
            rows = self.store.outbox_after(conn, position, self.settings.batch_size)
            blocked = self._blocked_resources(conn, sub.name)
            self._prefetch(conn, sub, rows)
        events = [ChangeEvent(*row) for row in rows]
        if sub.before_batch is not None:
            wanted = [
                e for e in events if self._wants(sub, e) and (e.resource_type, e.resource_id) not in blocked
            ]
            if wanted:
                sub.before_batch(wanted)
        parked: list[Parked] = []
        for event in events:
            key = (event.resource_type, event.resource_id)
            if key in blocked:
                parked.append(self._failed(sub.name, event, 0, "waiting behind an earlier failure"))
            else:
                try:
                    self._deliver(sub, event)
                except Exception as exc:  # a subscriber's failure must not stop the others
                    parked.append(self._failed(sub.name, event, 1, type(exc).__name__))
                    blocked.add(key)
        if rows:
            if sub.after_batch is not None:
                sub.after_batch()
            # at-least-once: a crash before this commit redelivers the batch, never skips it; the
            # batch's failures are parked in the same transaction as the cursor moves
            with begin_write(self.engine) as conn:
                self._park(conn, sub.name, parked)
                self._set_position(conn, sub.name, rows[-1][0])
        return len(rows)

    @staticmethod
    def _wants(sub: Subscriber, event: ChangeEvent) -> bool:
        return sub.resource_types is None or event.resource_type in sub.resource_types

    def _deliver(self, sub: Subscriber, event: ChangeEvent) -> bool:
        if not self._wants(sub, event):
            return False
        resource = self._load(event)
        if sub.accepts is not None and not sub.accepts(event, resource):
            return False
        sub.handler(event, resource)
        return True

    def _prefetch(self, conn: Any, sub: Subscriber, rows: list[OutboxRow]) -> None:
        """Read the batch's versions a subscriber wants in one query; the round's other
        subscribers find them in `_contents` instead of reading each again."""
        keys = [
            (rt, rid, vid)
            for _, rt, rid, vid, _, _ in rows
            if (sub.resource_types is None or rt in sub.resource_types)
            and (rt, rid, vid) not in self._contents
        ]
        if not keys:
            return
        found = self.store.read_versions_many(conn, keys)
        for key in keys:
            ver = found.get(key)
            self._contents[key] = ver.content if ver is not None else None

    def _load(self, event: ChangeEvent) -> dict[str, Any] | None:
        key = (event.resource_type, event.resource_id, event.version_id)
        if key in self._contents:
            content = self._contents[key]
        else:
            with self.engine.connect() as conn:
                ver = self.store.read_version(conn, event.resource_type, event.resource_id, event.version_id)
            content = ver.content if ver is not None else None
        # each subscriber gets its own parsed copy: handlers may change what they are given
        return loads(content) if content else None

    def _retry_due(self, sub: Subscriber) -> int:
        f = t.event_failure.c
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(f.seq, f.res_type, f.res_id, f.version_id, f.attempts)
                .where(f.subscriber == sub.name, f.dead.is_(False))
                .order_by(f.seq)
            ).all()
            occurred = (
                dict(
                    conn.execute(
                        select(t.outbox.c.seq, t.outbox.c.action).where(
                            t.outbox.c.seq.in_([r.seq for r in rows])
                        )
                    ).all()
                )
                if rows
                else {}
            )
        delivered = 0
        waiting: set[tuple[str, str]] = set()
        due_at = {r.seq: r for r in rows}
        for r in rows:
            key = (r.res_type, r.res_id)
            if key in waiting:
                continue
            next_at = self._next_attempt(sub.name, r.seq)
            if next_at > now:
                waiting.add(key)
                continue
            event = ChangeEvent(
                r.seq, r.res_type, r.res_id, r.version_id, str(occurred.get(r.seq, "update")), now
            )
            try:
                if self._deliver(sub, event):
                    delivered += 1
                if sub.after_batch is not None:
                    sub.after_batch()  # the event's writes are committed before its failure is cleared
                self._clear(sub.name, r.seq)
            except Exception as exc:
                self._fail_again(sub.name, due_at[r.seq].attempts + 1, r.seq, type(exc).__name__)
                waiting.add(key)
        return delivered

    # ---- bookkeeping ----------------------------------------------------------------------------
    def _blocked_resources(self, conn: Any, name: str) -> set[tuple[str, str]]:
        f = t.event_failure.c
        rows = conn.execute(select(f.res_type, f.res_id).where(f.subscriber == name, f.dead.is_(False)))
        return {(r.res_type, r.res_id) for r in rows}

    def _next_attempt(self, name: str, seq: int) -> float:
        f = t.event_failure.c
        with self.engine.connect() as conn:
            return float(
                conn.execute(select(f.next_attempt_at).where(f.subscriber == name, f.seq == seq)).scalar_one()
            )

    def _backoff(self, attempts: int) -> float:
        return float(self.settings.backoff_base_seconds * (2 ** max(attempts - 1, 0)))

    def _failed(self, name: str, event: ChangeEvent, attempts: int, error: str) -> Parked:
        log.warning(
            "event.delivery_failed",
            extra={"fields": {"subscriber": name, "seq": event.seq, "attempts": attempts, "error": error}},
        )
        return event, attempts, error

    def _park(self, conn: Connection, name: str, parked: Sequence[Parked]) -> None:
        """Record failed or waiting events; one already parked (a batch delivered again) keeps its row."""
        if not parked:
            return
        f = t.event_failure.c
        known = set(
            conn.execute(
                select(f.seq).where(f.subscriber == name, f.seq.in_([e.seq for e, _, _ in parked]))
            ).scalars()
        )
        now = self.clock()
        rows = []
        for event, attempts, error in parked:
            if event.seq in known:
                continue
            rows.append(
                {
                    "subscriber": name,
                    "seq": event.seq,
                    "res_type": event.resource_type,
                    "res_id": event.resource_id,
                    "version_id": event.version_id,
                    "attempts": attempts,
                    "next_attempt_at": now + (self._backoff(attempts) if attempts else 0.0),
                    "last_error": error[:500],
                    "dead": False,
                }
            )
        if rows:
            conn.execute(insert(t.event_failure), rows)

    def _fail_again(self, name: str, attempts: int, seq: int, error: str) -> None:
        dead = attempts >= self.settings.max_attempts
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.event_failure)
                .where(t.event_failure.c.subscriber == name, t.event_failure.c.seq == seq)
                .values(
                    attempts=attempts,
                    next_attempt_at=self.clock() + self._backoff(attempts),
                    last_error=error[:500],
                    dead=dead,
                )
            )
        if dead:
            log.error(
                "event.dead_lettered",
                extra={"fields": {"subscriber": name, "seq": seq, "attempts": attempts}},
            )

    def _clear(self, name: str, seq: int) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(
                delete(t.event_failure).where(
                    t.event_failure.c.subscriber == name, t.event_failure.c.seq == seq
                )
            )

    def _set_position(self, conn: Connection, name: str, seq: int) -> None:
        conn.execute(
            update(t.event_cursor)
            .where(t.event_cursor.c.subscriber == name)
            .values(position=seq, updated_at=self.clock())
        )

    # ---- operations: dead letters and replay -----------------------------------------------------
    def dead_letters(self, name: str) -> list[tuple[int, str, str, int, int, str | None]]:
        """(seq, type, id, version, attempts, last error) of dead-lettered events."""
        f = t.event_failure.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(f.seq, f.res_type, f.res_id, f.version_id, f.attempts, f.last_error)
                .where(f.subscriber == name, f.dead.is_(True))
                .order_by(f.seq)
            )
            return [tuple(r) for r in rows]

    def retry_dead(self, name: str) -> int:
        """Put dead-lettered events back in the retry queue."""
        with begin_write(self.engine) as conn:
            result = conn.execute(
                update(t.event_failure)
                .where(and_(t.event_failure.c.subscriber == name, t.event_failure.c.dead.is_(True)))
                .values(dead=False, attempts=0, next_attempt_at=self.clock())
            )
            return int(result.rowcount)

    def replay(self, name: str, from_seq: int) -> None:
        """Deliver again every event with seq >= from_seq (subscribers are idempotent)."""
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.event_cursor)
                .where(t.event_cursor.c.subscriber == name)
                .values(position=max(from_seq - 1, 0), updated_at=self.clock())
            )

    def outbox_head(self) -> int:
        with self.engine.connect() as conn:
            return int(self.store.outbox_head(conn))

    def position(self, name: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(t.event_cursor.c.position).where(t.event_cursor.c.subscriber == name)
                ).scalar_one()
            )

    # ---- background thread -----------------------------------------------------------------------
    def wake(self) -> None:
        """Called after each commit so that delivery does not wait for the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="healthbrain-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.poll_interval_seconds)
            self._wake.clear()
            try:
                while self.subscribers and self.dispatch_once() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("event.dispatch_error")
