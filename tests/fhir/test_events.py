"""Events: at-least-once, in order per resource, retries, dead letters, replay, rest-hook Subscriptions."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from healthbrain.core.context import system_context
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.subscriptions import SubscriptionNotifier
from healthbrain.storage import tables as t

CTX = system_context()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def patient(pid: str, gender: str = "male") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher(repo: FhirRepository, clock: Clock) -> EventDispatcher:
    return EventDispatcher(repo.engine, EventSettings(max_attempts=3, backoff_base_seconds=10), clock=clock)


def test_every_change_is_delivered_in_order(repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    got: list[tuple[str, int, str]] = []
    dispatcher.register("audit-copy", lambda e, r: got.append((e.resource_id, e.version_id, e.action)))
    repo.update(CTX, "Patient", "a", patient("a"))
    repo.update(CTX, "Patient", "a", patient("a", "female"))
    repo.update(CTX, "Patient", "b", patient("b"))
    repo.delete(CTX, "Patient", "a")
    dispatcher.drain()
    assert got == [("a", 1, "create"), ("a", 2, "update"), ("b", 1, "create"), ("a", 3, "delete")]
    dispatcher.drain()
    assert len(got) == 4  # nothing twice once acknowledged


def test_subscribers_of_one_round_each_get_the_version_they_were_told_of(
    repo: FhirRepository, dispatcher: EventDispatcher
) -> None:
    first: list[tuple[int, str | None]] = []
    second: list[tuple[int, str | None]] = []

    def scribble(event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        first.append((event.version_id, (resource or {}).get("gender")))
        if resource is not None:
            resource["gender"] = "unknown"  # a handler that changes what it is given

    dispatcher.register("scribbler", scribble, resource_types={"Patient"})
    dispatcher.register("reader", lambda e, r: second.append((e.version_id, (r or {}).get("gender"))))
    repo.update(CTX, "Patient", "a", patient("a"))
    repo.update(CTX, "Patient", "a", patient("a", "female"))
    repo.delete(CTX, "Patient", "a")
    dispatcher.drain()
    assert first == [(1, "male"), (2, "female"), (3, None)]
    # the second subscriber sees each stored version as it was, not the first one's changes
    assert second == [(1, "male"), (2, "female"), (3, None)]


def test_type_filter_and_resource_content(repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    seen: list[dict[str, Any] | None] = []
    dispatcher.register("obs-only", lambda e, r: seen.append(r), resource_types={"Observation"})
    repo.update(CTX, "Patient", "a", patient("a"))
    dispatcher.drain()
    assert seen == []


def test_failures_retry_with_backoff_keep_order_then_dead_letter(
    repo: FhirRepository, dispatcher: EventDispatcher, clock: Clock
) -> None:
    delivered: list[tuple[str, int]] = []
    broken = {"a"}

    def handler(e: ChangeEvent, _r: dict[str, Any] | None) -> None:
        if e.resource_id in broken:
            raise RuntimeError("endpoint down")
        delivered.append((e.resource_id, e.version_id))

    dispatcher.register("flaky", handler)
    repo.update(CTX, "Patient", "a", patient("a"))
    repo.update(CTX, "Patient", "a", patient("a", "female"))
    repo.update(CTX, "Patient", "b", patient("b"))
    dispatcher.drain()
    assert delivered == [("b", 1)]  # b is not held up by a; a's v2 waits behind a's v1
    broken.clear()
    dispatcher.drain()
    assert delivered == [("b", 1)]  # backoff not yet elapsed
    clock.now += 11
    dispatcher.drain()
    assert delivered == [("b", 1), ("a", 1), ("a", 2)]


def test_dead_letter_and_replay(repo: FhirRepository, dispatcher: EventDispatcher, clock: Clock) -> None:
    calls: list[int] = []
    fail = True

    def handler(e: ChangeEvent, _r: dict[str, Any] | None) -> None:
        calls.append(e.version_id)
        if fail:
            raise RuntimeError("down")

    dispatcher.register("dead", handler)
    repo.update(CTX, "Patient", "a", patient("a"))
    for _ in range(4):
        dispatcher.drain()
        clock.now += 1000
    assert len(calls) == 3  # max_attempts
    dead = dispatcher.dead_letters("dead")
    assert [(d[1], d[2], d[3]) for d in dead] == [("Patient", "a", 1)]
    fail = False
    assert dispatcher.retry_dead("dead") == 1
    dispatcher.drain()
    assert dispatcher.dead_letters("dead") == []
    calls.clear()
    dispatcher.replay("dead", 1)
    dispatcher.drain()
    assert calls == [1]


class WriteBehind:
    """A subscriber that keeps what it handles and writes it in after_batch, as the monitors do."""

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.pending: list[tuple[str, int]] = []
        self.written: list[tuple[str, int]] = []
        self.fail_writes = 0

    def handle(self, e: ChangeEvent, _r: dict[str, Any] | None) -> None:
        if e.resource_id in self.broken:
            raise RuntimeError("cannot evaluate")
        self.pending.append((e.resource_id, e.version_id))

    def write(self) -> None:
        batch, self.pending = self.pending, []
        if self.fail_writes:
            self.fail_writes -= 1
            raise RuntimeError("disk full")
        self.written += batch


def _failures(repo: FhirRepository) -> list[tuple[str, int]]:
    f = t.event_failure.c
    with repo.engine.connect() as conn:
        rows = conn.execute(select(f.res_id, f.attempts).order_by(f.seq))
        return [(str(r.res_id), int(r.attempts)) for r in rows]


def test_a_batch_delivered_again_after_its_write_failed_parks_its_failures_once(
    repo: FhirRepository, dispatcher: EventDispatcher, clock: Clock
) -> None:
    sub = WriteBehind(broken={"a"})
    sub.fail_writes = 1
    dispatcher.register("behind", sub.handle, after_batch=sub.write)
    repo.update(CTX, "Patient", "a", patient("a"))
    repo.update(CTX, "Patient", "b", patient("b"))
    with pytest.raises(RuntimeError):
        dispatcher.drain()
    assert sub.written == [] and _failures(repo) == []  # nothing acknowledged, nothing parked
    dispatcher.drain()
    assert sub.written == [("b", 1)] and _failures(repo) == [("a", 1)]
    dispatcher.replay("behind", 0)  # a replay over the parked event leaves it parked, once
    dispatcher.drain()
    assert sub.written == [("b", 1), ("b", 1)] and _failures(repo) == [("a", 1)]


def test_a_retried_event_is_written_before_its_failure_is_cleared(
    repo: FhirRepository, dispatcher: EventDispatcher, clock: Clock
) -> None:
    sub = WriteBehind(broken={"a"})
    dispatcher.register("behind", sub.handle, after_batch=sub.write)
    repo.update(CTX, "Patient", "a", patient("a"))
    dispatcher.drain()
    sub.broken.clear()
    clock.now += 11
    dispatcher.drain()  # the retry alone, no later batch
    assert sub.written == [("a", 1)] and _failures(repo) == []


def test_a_subscriber_is_told_its_batch_before_the_first_event(
    repo: FhirRepository, dispatcher: EventDispatcher
) -> None:
    log: list[object] = []
    broken = {"a"}

    def handler(e: ChangeEvent, _r: dict[str, Any] | None) -> None:
        log.append((e.resource_id, e.version_id))
        if e.resource_id in broken:
            raise RuntimeError("cannot evaluate")

    def ahead(events: Sequence[ChangeEvent]) -> None:
        log.append([(e.resource_id, e.version_id) for e in events])

    dispatcher.register("ahead", handler, resource_types={"Patient"}, before_batch=ahead)
    repo.update(CTX, "Patient", "a", patient("a"))
    repo.update(CTX, "Observation", "o", {"resourceType": "Observation", "id": "o", "status": "final",
                                          "code": {"text": "x"}})  # fmt: skip
    dispatcher.drain()
    assert log == [[("a", 1)], ("a", 1)]
    repo.update(CTX, "Patient", "a", patient("a", "female"))
    repo.update(CTX, "Patient", "b", patient("b"))
    dispatcher.drain()  # a's version 2 waits behind its failed version 1
    assert log[2:] == [[("b", 1)], ("b", 1)]


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Hook.received.append((self.headers.get("Authorization", ""), orjson.loads(body) if body else {}))
        self.send_response(Hook.status)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def hook_url() -> Iterator[str]:
    Hook.received = []
    Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_rest_hook_subscription_notifies_matching_changes(
    repo: FhirRepository, dispatcher: EventDispatcher, hook_url: str, clock: Clock
) -> None:
    SubscriptionNotifier(repo).register(dispatcher)
    repo.update(
        CTX,
        "Subscription",
        "s1",
        {
            "resourceType": "Subscription",
            "id": "s1",
            "status": "active",
            "reason": "critical values",
            "criteria": "Observation?code=http://loinc.org|2823-3",
            "channel": {
                "type": "rest-hook",
                "endpoint": hook_url,
                "payload": "application/fhir+json",
                "header": ["Authorization: Bearer hook-secret"],
            },
        },
    )
    dispatcher.drain()
    potassium = {
        "resourceType": "Observation",
        "id": "k1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
        "valueQuantity": {"value": 6.8, "unit": "mmol/L"},
    }
    glucose = {
        **potassium,
        "id": "g1",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
    }
    repo.update(CTX, "Observation", "k1", potassium)
    repo.update(CTX, "Observation", "g1", glucose)
    dispatcher.drain()
    assert [(auth, body.get("id")) for auth, body in Hook.received] == [("Bearer hook-secret", "k1")]
    # an endpoint that fails is retried until it accepts
    Hook.status = 503
    repo.update(CTX, "Observation", "k2", {**potassium, "id": "k2"})
    dispatcher.drain()
    Hook.status = 200
    clock.now += 60
    dispatcher.drain()
    assert [body.get("id") for _, body in Hook.received] == ["k1", "k2", "k2"]
