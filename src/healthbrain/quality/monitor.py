"""The quality monitor: an event subscriber that evaluates every committed record and keeps the
per-institution daily scores current. Idempotent: a record is evaluated once per version."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import parse_instant, split_reference
from healthbrain.quality.catalog import RuleSet, default_rules
from healthbrain.quality.codesystems import CodeChecker
from healthbrain.quality.elements import subject_reference
from healthbrain.quality.evaluate import evaluate_record, patient_facts
from healthbrain.quality.model import UNKNOWN_INSTITUTION, PatientFacts, RecordContext
from healthbrain.quality.quarantine import feed_of, record_row
from healthbrain.quality.screening import institution_of
from healthbrain.quality.store import QualityStore
from healthbrain.quality.uniqueness import KeyHasher, duplicate_finding, identity_keys, sha256_hasher

log = logging.getLogger("healthbrain.quality")
SUBSCRIBER = "quality.monitor"
_CACHE = 20_000


class QualityMonitor:
    """Evaluates records as they are committed and stores what the daily scores aggregate."""

    def __init__(
        self,
        repo: FhirRepository,
        rules: RuleSet | None = None,
        *,
        hasher: KeyHasher | None = None,
        checker: CodeChecker | None = None,
    ) -> None:
        self.repo = repo
        self.rules = rules or default_rules()
        self.hasher = hasher or default_hasher(repo)
        self.checker = checker
        self.store = QualityStore()
        self.ctx = system_context(PurposeOfUse.QUALITY)
        self._facts: OrderedDict[str, PatientFacts | None] = OrderedDict()

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to the monitored types from the start of the outbox (scores need history)."""
        dispatcher.register(SUBSCRIBER, self.handle, resource_types=set(self.rules.monitored_types))

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        key = f"{event.resource_type}/{event.resource_id}"
        if event.resource_type == "Patient":
            self._facts.pop(key, None)
        if event.action == "delete" or resource is None:
            with begin_write(self.repo.engine) as conn:
                self.store.delete_record(conn, key)
            return
        # one transaction per event: reads, evaluation and writes commit once
        with begin_write(self.repo.engine) as conn:
            known = self.store.record_version(conn, key)
            if known is not None and known >= event.version_id:
                return
            row, hashes, first_seen, institution = self._evaluate(conn, key, event, resource)
            self.store.put_records(conn, [row], replace=known is not None)
            if hashes or known is not None:
                self.store.replace_keys(conn, institution, key, hashes, first_seen)

    def _evaluate(
        self, conn: Connection, key: str, event: ChangeEvent, resource: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str], float, str]:
        arrived = _arrival(resource, event.occurred_at)
        when = datetime.fromtimestamp(arrived, UTC)
        subject = subject_reference(resource) if event.resource_type != "Patient" else None
        ctx = RecordContext(when, self._patient(subject, when) if subject else None)
        ev = evaluate_record(resource, ctx, self.rules, self.checker)
        institution = institution_of(resource, lambda ref: self._provider(conn, ref)) or UNKNOWN_INSTITUTION
        keys = identity_keys(resource, self.rules)
        hashes = [self.hasher(k) for _, k in keys]
        first_seen = (self.store.first_seen(conn, key) if hashes else None) or arrived
        earlier = self.store.earlier_holders(conn, institution, hashes, key, first_seen)
        dups = tuple(
            dict.fromkeys(
                duplicate_finding(self.rules, kind, event.resource_type)
                for (kind, _), h in zip(keys, hashes, strict=True)
                if h in earlier
            )
        )
        row = record_row(key, event.version_id, event.resource_type, institution, feed_of(resource), arrived,
                         ev, quarantined=False, unique=not dups, extra=dups)  # fmt: skip
        return row, hashes, first_seen, institution

    def _provider(self, conn: Connection, ref: str) -> str | None:
        known = self.store.record_institution(conn, ref)
        if known is not None and known != UNKNOWN_INSTITUTION:
            return known
        parts = split_reference(ref)
        if parts is None or parts[0] != "Encounter":
            return None
        try:
            enc = self.repo.read(self.ctx, "Encounter", parts[1]).resource or {}
        except HealthBrainError:
            return None
        provider = split_reference(str((enc.get("serviceProvider") or {}).get("reference", "")))
        return provider[1] if provider is not None else None

    def _patient(self, ref: str, when: datetime) -> PatientFacts | None:
        if ref in self._facts:
            self._facts.move_to_end(ref)
            return self._facts[ref]
        facts = None
        parts = split_reference(ref)
        if parts is not None and parts[0] == "Patient":
            try:
                patient = self.repo.read(self.ctx, "Patient", parts[1]).resource
            except HealthBrainError:
                patient = None
            if patient is not None:
                ev = evaluate_record(patient, RecordContext(when), self.rules)
                facts = patient_facts(patient, ev, self.rules)
        self._facts[ref] = facts
        if len(self._facts) > _CACHE:
            self._facts.popitem(last=False)
        return facts


def _arrival(resource: dict[str, Any], fallback: float) -> float:
    stamp = (resource.get("meta") or {}).get("lastUpdated")
    if isinstance(stamp, str):
        try:
            return parse_instant(stamp)
        except ValueError:
            pass
    return fallback


def default_hasher(repo: FhirRepository) -> KeyHasher:
    """The deployment's blind index (keyed HMAC) when identifiers are sealed, else SHA-256."""
    protector = repo.protector
    if protector is None:
        return sha256_hasher
    blind: Callable[[str], str] = lambda key: protector.blind("Patient", "quality-key", "e", key)[:80]  # noqa: E731
    return blind
