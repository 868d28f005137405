"""FHIR R4 Subscription (rest-hook channel) on top of the event dispatcher.

Each active Subscription becomes its own dispatcher subscriber (`subscription:<id>`), so it has its own
cursor, retries and dead letters. See: https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import httpx
import orjson
from sqlalchemy import select

from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.fhir.resources import loads
from healthbrain.storage import tables as t

if TYPE_CHECKING:
    from healthbrain.fhir.repository import FhirRepository

log = logging.getLogger("healthbrain.subscriptions")
PREFIX = "subscription:"


class DeliveryFailed(Exception):
    """The endpoint did not accept the notification (retried by the dispatcher)."""


class SubscriptionNotifier:
    """Keeps dispatcher subscribers in step with the active Subscription resources."""

    def __init__(self, repo: FhirRepository, *, timeout: float = 10.0) -> None:
        self.repo = repo
        self.timeout = timeout
        self.dispatcher: EventDispatcher | None = None

    def register(self, dispatcher: EventDispatcher) -> None:
        """Watch Subscription changes and register every active one already stored."""
        self.dispatcher = dispatcher
        dispatcher.register(
            "subscriptions:manager",
            self._on_subscription_change,
            resource_types={"Subscription"},
            from_now=True,
        )
        with self.repo.engine.connect() as conn:
            rows = conn.execute(
                select(t.resource.c.content).where(
                    t.resource.c.res_type == "Subscription", t.resource.c.deleted.is_(False)
                )
            )
            for (content,) in rows:
                if content:
                    self._sync(loads(content))

    def _on_subscription_change(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        if resource is None:
            if self.dispatcher is not None:
                self.dispatcher.unregister(PREFIX + event.resource_id)
            return
        self._sync(resource)

    def _sync(self, sub: dict[str, Any]) -> None:
        assert self.dispatcher is not None
        name = PREFIX + str(sub["id"])
        channel = sub.get("channel") or {}
        criteria = str(sub.get("criteria") or "")
        rt, _, query = criteria.partition("?")
        if sub.get("status") not in ("active", "requested") or channel.get("type") != "rest-hook" or not rt:
            self.dispatcher.unregister(name)
            return

        def accepts(event: ChangeEvent, resource: dict[str, Any] | None) -> bool:
            return resource is not None and self._matches(rt, event.resource_id, query)

        def deliver(_event: ChangeEvent, resource: dict[str, Any] | None) -> None:
            self._post(channel, resource)

        self.dispatcher.register(name, deliver, resource_types={rt}, accepts=accepts, from_now=True)

    def _matches(self, rt: str, rid: str, query: str) -> bool:
        params = [*parse_qsl(query, keep_blank_values=True), ("_id", rid)]
        try:
            req = self.repo.parser.parse(rt, params)
        except HealthBrainError:
            return False
        with self.repo.engine.connect() as conn:
            return bool(self.repo.store.search(conn, req.query, limit=1, offset=0))

    def _post(self, channel: dict[str, Any], resource: dict[str, Any] | None) -> None:
        endpoint = str(channel.get("endpoint") or "")
        headers: dict[str, str] = {}
        for line in channel.get("header") or []:
            key, _, value = str(line).partition(":")
            if key.strip():
                headers[key.strip()] = value.strip()
        payload = channel.get("payload")
        content = b""
        if payload and resource is not None:
            headers["Content-Type"] = str(payload)
            content = orjson.dumps(resource)
        try:
            response = httpx.post(endpoint, content=content, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(type(exc).__name__) from exc
        if response.status_code >= 300:
            raise DeliveryFailed(f"HTTP {response.status_code}")
