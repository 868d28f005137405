"""The quality monitor: an event subscriber that evaluates every committed record and keeps the
per-institution daily scores current. Idempotent: a record is evaluated once per version.

Records are evaluated as events arrive and written once per dispatcher batch (`flush`, the
dispatcher's after_batch), in one short transaction: catching up after a bulk load costs a few
statements per batch instead of a transaction per record, and SQLite's single write lock is held for
milliseconds, not for the whole batch. Each record reads the batch's earlier ones through
`PendingBatch`, so the outcome is the one of writing each record on its own."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
from healthbrain.quality.pending import PendingBatch, earlier_holders
from healthbrain.quality.quarantine import feed_of, record_row
from healthbrain.quality.screening import institution_of
from healthbrain.quality.store import QualityStore, identity_rows
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
        # the batch in progress: what it evaluated, the connection it reads the quality tables
        # with, what was stored of its records when it began (version, first seen; None: nothing)
        # and the institution of each Encounter its records refer to
        self._batch = PendingBatch()
        self._conn: Connection | None = None
        self._versions: dict[str, int | None] = {}
        self._first: dict[str, float | None] = {}
        self._providers: dict[str, str | None] = {}

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to the monitored types from the start of the outbox (scores need history)."""
        dispatcher.register(
            SUBSCRIBER, self.handle, resource_types=set(self.rules.monitored_types),
            before_batch=self.prefetch, after_batch=self.flush,
        )  # fmt: skip

    def prefetch(self, events: Sequence[ChangeEvent]) -> None:
        """Read what is stored of a batch's records in a few queries (the dispatcher's before_batch)."""
        conn = self._reader()
        keys = [f"{e.resource_type}/{e.resource_id}" for e in events]
        self._versions.update(dict.fromkeys(keys))
        self._versions.update(self.store.record_versions(conn, keys))
        keyed = [k for k, e in zip(keys, events, strict=True) if self._may_have_keys(e.resource_type)]
        self._first.update(dict.fromkeys(keyed))
        self._first.update(self.store.first_seen_many(conn, keyed))

    def _may_have_keys(self, resource_type: str) -> bool:
        return resource_type in self.rules.identifier_types or (
            resource_type == "Patient" and self.rules.patient_demographics
        )

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Evaluate one record version; it is stored by the next `flush`. Raises (and changes nothing)
        when the record cannot be evaluated: the dispatcher then retries that event alone."""
        key = f"{event.resource_type}/{event.resource_id}"
        if event.resource_type == "Patient":
            self._facts.pop(key, None)
        self._providers.pop(key, None)  # an Encounter's record changes: records citing it look again
        if event.action == "delete" or resource is None:
            self._batch.delete(key)
            return
        conn = self._reader()
        known = self._version(conn, key)
        if known is not None and known >= event.version_id:
            return
        row, hashes, first_seen, institution = self._evaluate(conn, key, event, resource)
        replaces_keys = bool(hashes) or known is not None
        keys = identity_rows(institution, key, hashes, first_seen) if replaces_keys else None
        self._batch.put(key, row, keys)

    def flush(self) -> None:
        """Write what the batch evaluated, in one transaction (the dispatcher's after_batch; when it
        raises, the dispatcher delivers the batch again)."""
        batch, self._batch = self._batch, PendingBatch()
        self._providers.clear()
        self._versions.clear()
        self._first.clear()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
        if batch:
            with begin_write(self.repo.engine) as conn:
                self.store.write_batch(conn, batch.records)

    def _reader(self) -> Connection:
        """One connection for the batch's reads of the quality tables (closed by `flush`)."""
        if self._conn is None:
            self._conn = self.repo.engine.connect()
        return self._conn

    def _version(self, conn: Connection, key: str) -> int | None:
        if self._batch.knows(key):
            row = self._batch.row(key)
            return None if row is None else int(row["version"])
        if key in self._versions:
            return self._versions[key]
        return self.store.record_version(conn, key)

    def _first_seen(self, conn: Connection, key: str) -> float | None:
        if self._batch.knows_keys(key):
            return self._batch.first_seen(key)
        if key in self._first:
            return self._first[key]
        return self.store.first_seen(conn, key)

    def _earlier(
        self, conn: Connection, institution: str, hashes: list[str], key: str, first_seen: float
    ) -> set[str]:
        """Hashes another record of the institution registered before this one, stored or in the batch."""
        if not hashes:
            return set()
        # stored keys of a record the batch re-keyed are gone once it is written
        stored = self.store.key_holders(conn, institution, hashes, key)
        live = [h for h in stored if not self._batch.knows_keys(h[1])]
        return earlier_holders([*live, *self._batch.holders(institution, hashes, key)], key, first_seen)

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
        first_seen = (self._first_seen(conn, key) if hashes else None) or arrived
        earlier = self._earlier(conn, institution, hashes, key, first_seen)
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
        if ref not in self._providers:
            self._providers[ref] = self._read_provider(conn, ref)
        return self._providers[ref]

    def _read_provider(self, conn: Connection, ref: str) -> str | None:
        if self._batch.knows(ref):
            row = self._batch.row(ref)
            known = None if row is None else str(row["institution"])
        else:
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
