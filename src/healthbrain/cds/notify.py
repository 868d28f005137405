"""Alert delivery: an in-process hub feeding server-sent-event streams, and signed webhooks with retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.store import CdsStore
from healthbrain.cds.store_admin import AdminStore

__all__ = ["AlertHub", "HubSubscription", "WebhookSender", "sign"]

log = logging.getLogger("healthbrain.cds.notify")


@dataclass(eq=False, slots=True)
class HubSubscription:
    """One listener: the recipients it wants (empty = everything) and how a notification reaches it."""

    recipients: frozenset[str]
    push: Callable[[Mapping[str, Any]], None]
    dropped: int = field(default=0)

    def wants(self, notification: Mapping[str, Any]) -> bool:
        return not self.recipients or bool(self.recipients & set(notification.get("recipients", ())))


class AlertHub:
    """Fan-out of committed notifications to live listeners (thread-safe: dispatcher threads publish)."""

    def __init__(self) -> None:
        self._subs: set[HubSubscription] = set()
        self._lock = threading.Lock()

    def subscribe(
        self, recipients: Iterable[str], push: Callable[[Mapping[str, Any]], None]
    ) -> HubSubscription:
        sub = HubSubscription(frozenset(recipients), push)
        with self._lock:
            self._subs.add(sub)
        return sub

    def subscribe_async(
        self, recipients: Iterable[str], queue: asyncio.Queue[Mapping[str, Any]]
    ) -> HubSubscription:
        """A listener on an event loop: notifications are handed over with call_soon_threadsafe."""
        loop = asyncio.get_running_loop()

        def push(notification: Mapping[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, notification)

        return self.subscribe(recipients, push)

    def unsubscribe(self, sub: HubSubscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, notification: Mapping[str, Any]) -> int:
        """Hand a notification to every interested listener; returns how many took it."""
        with self._lock:
            subs = [s for s in self._subs if s.wants(notification)]
        delivered = 0
        for sub in subs:
            try:
                sub.push(notification)
                delivered += 1
            except RuntimeError:  # the listener's event loop has closed: it is gone
                sub.dropped += 1
                self.unsubscribe(sub)
        return delivered


def sign(secret: str, body: bytes) -> str:
    """The X-HealthBrain-Signature header value: sha256=<hex HMAC of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Delivers queued notifications to registered webhooks; failures back off exponentially."""

    def __init__(
        self, admin: AdminStore, store: CdsStore, settings: CdsSettings, client: httpx.Client | None = None
    ) -> None:
        self.admin = admin
        self.store = store
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_seconds)

    def close(self) -> None:
        self.client.close()

    def deliver_due(self, now: float) -> int:
        """Attempt every delivery that is due; returns the number delivered."""
        delivered = 0
        for job in self.admin.due_deliveries(now):
            if self._attempt(job, now):
                delivered += 1
        return delivered

    def _attempt(self, job: Mapping[str, Any], now: float) -> bool:
        body = orjson.dumps(
            {
                "seq": job["notification_seq"],
                "event": job["event"],
                "alert": job["alert_id"],
                "notification": job["payload"],
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-HealthBrain-Event": str(job["event"]),
            "X-HealthBrain-Delivery": str(job["notification_seq"]),
        }
        if job.get("secret"):
            headers["X-HealthBrain-Signature"] = sign(str(job["secret"]), body)
        error: str | None = None
        try:
            response = self.client.post(str(job["url"]), content=body, headers=headers)
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempts = int(job["attempts"]) + 1
        seq, hook = int(job["notification_seq"]), str(job["webhook_id"])
        if error is None:
            self.admin.mark_delivery(seq, hook, status="delivered", attempts=attempts, next_at=now)
            self.store.add_event(
                str(job["alert_id"]),
                "delivered",
                "webhook",
                recipient=f"webhook:{hook}",
                detail=str(job["event"]),
            )
            return True
        dead = attempts >= self.settings.webhook_max_attempts
        backoff = self.settings.webhook_backoff_seconds * 2 ** (attempts - 1)
        self.admin.mark_delivery(
            seq,
            hook,
            status="dead" if dead else "pending",
            attempts=attempts,
            next_at=now + backoff,
            error=error,
        )
        log.warning(
            "cds.webhook_failed", extra={"fields": {"webhook": hook, "seq": seq, "attempts": attempts}}
        )
        if dead:
            self.store.add_event(
                str(job["alert_id"]), "delivery-failed", "webhook", recipient=f"webhook:{hook}", detail=error
            )
        return False
