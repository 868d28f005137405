"""Quarantine: screening a transaction before it is written, and holding what fails hard rules.

`screen` evaluates a Bundle, plans which entries to hold (see holding.py) and returns the Bundle to
write plus a callback that records the held entries in the same database transaction, so nothing
is ever half-written: either the loaded entries and the held ones are both committed, or neither.
Held content is sealed like the repository's (identifiers, names) before it is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.fhir.protection import FieldProtector
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import iter_references, new_id, split_reference
from healthbrain.quality.catalog import RuleSet, default_rules
from healthbrain.quality.codesystems import CodeChecker
from healthbrain.quality.elements import local_day
from healthbrain.quality.evaluate import evaluate_record, patient_facts
from healthbrain.quality.holding import HeldEntry, HoldPlan, plan_holds
from healthbrain.quality.model import UNKNOWN_INSTITUTION, Evaluation, PatientFacts, RecordContext
from healthbrain.quality.screening import EntryVerdict, entry_aliases, evaluate_entries, outside_references
from healthbrain.quality.store import QualityStore, dump_findings

FEED_SOURCE_PREFIX = "urn:healthbrain:feed:"
_LOOKUP_CHUNK = 200


def feed_of(resource: dict[str, Any]) -> str:
    """The feed a resource version arrived through, from its meta.source (`other` when not stamped)."""
    source = (resource.get("meta") or {}).get("source")
    if isinstance(source, str) and source.startswith(FEED_SOURCE_PREFIX):
        return source[len(FEED_SOURCE_PREFIX) :][:40] or "other"
    return "other"


def record_row(
    key: str, version: int, rt: str, institution: str, feed: str, arrived: float, ev: Evaluation,
    *, quarantined: bool, unique: bool = True, extra: tuple[Any, ...] = (),
) -> dict[str, Any]:  # fmt: skip
    """A quality_record row for an evaluation."""
    findings = ev.findings + tuple(extra)
    return {
        "record_key": key, "version": version, "res_type": rt, "institution": institution[:80],
        "feed": feed, "day": local_day(arrived), "arrived_at": arrived, "expected": ev.expected,
        "present": ev.present, "valid": ev.passes("validity"), "consistent": ev.passes("consistency"),
        "unique_ok": unique, "timely": ev.timely, "lag_seconds": ev.lag_seconds,
        "flagged": bool(findings), "quarantined": quarantined, "findings": dump_findings(findings),
    }  # fmt: skip


@dataclass(slots=True)
class Screening:
    """The outcome of screening one transaction: what to write now and what was held."""

    bundle: dict[str, Any]
    held: list[dict[str, Any]] = field(default_factory=list)
    holds: list[tuple[str, str]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[EntryVerdict] = field(default_factory=list)
    store: QualityStore = field(default_factory=QualityStore)

    @property
    def held_count(self) -> int:
        return len(self.held)

    def write(self, conn: Connection) -> None:
        """Record the held entries; call inside the transaction that writes `bundle`."""
        if self.held:
            self.store.add_held(conn, self.held, self.holds)
            self.store.put_records(conn, self.records)

    def also(self, other: Callable[[Connection], None] | None = None) -> Callable[[Connection], None]:
        """A `process_transaction(also=...)` callback running `other` and then `write`."""

        def run(conn: Connection) -> None:
            if other is not None:
                other(conn)
            self.write(conn)

        return run


class QuarantineScreen:
    """Screens transactions for the ingest paths (file, HL7 v2, CSV) with the repository's lookups."""

    def __init__(
        self,
        repo: FhirRepository,
        rules: RuleSet | None = None,
        *,
        clock: Callable[[], float] = time.time,
        checker: CodeChecker | None = None,
        stamp_feed: bool = True,
    ) -> None:
        self.repo = repo
        self.rules = rules or default_rules()
        self.clock = clock
        self.checker = checker
        self.stamp_feed = stamp_feed
        self.store = QualityStore()
        self.ctx = system_context(PurposeOfUse.OPERATIONS)

    def screen(
        self, bundle: dict[str, Any], *, feed: str, source: str, institution: str | None = None
    ) -> Screening:
        """Evaluate a transaction Bundle's entries and hold those failing hard rules (and dependents).

        Args:
            bundle: a transaction (or batch) Bundle; not modified.
            feed: the channel it came through: file, hl7v2, tabular, rest ...
            source: where it came from (file and entry, message control id), no patient data.
            institution: the sending organisation's id, for records that do not name theirs.
        """
        entries = bundle.get("entry") or []
        if not isinstance(entries, list) or not entries:
            return Screening(bundle)
        now = self.clock()
        arrival = datetime.fromtimestamp(now, UTC)
        valid = [e if isinstance(e, dict) else {} for e in entries]
        patients, encounters = outside_references(valid)
        verdicts = evaluate_entries(
            valid, self.rules, arrival, patients=self._facts(patients, arrival),
            providers=self._providers(encounters), default_institution=institution, checker=self.checker,
        )  # fmt: skip
        failing = {v.index for v in verdicts if v.evaluation.hard}
        external = self._external_held(valid)
        plan = plan_holds(valid, failing, new_id, external) if failing or external else HoldPlan(valid, [])
        load = [self._stamped(e, feed) for e in plan.load] if self.stamp_feed else plan.load
        screening = Screening({**bundle, "entry": load}, verdicts=verdicts, store=self.store)
        if plan.held:
            self._hold(screening, plan.held, verdicts, feed, source[-500:], now)
        return screening

    # ---- lookups ----------------------------------------------------------------------------------
    def _search_ids(self, rt: str, refs: set[str]) -> list[dict[str, Any]]:
        ids = sorted(r.split("/", 1)[1] for r in refs)
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            part = ids[start : start + _LOOKUP_CHUNK]
            params = [("_id", ",".join(part)), ("_count", str(len(part)))]
            found += run_search(self.repo, self.ctx, rt, params).matches
        return found

    def _facts(self, refs: set[str], arrival: datetime) -> dict[str, PatientFacts]:
        if not refs:
            return {}
        out = {}
        for res in self._search_ids("Patient", refs):
            ev = evaluate_record(res, RecordContext(arrival), self.rules, self.checker)
            out[f"Patient/{res['id']}"] = patient_facts(res, ev, self.rules)
        return out

    def _providers(self, refs: set[str]) -> dict[str, str]:
        if not refs:
            return {}
        out: dict[str, str] = {}
        with self.repo.engine.connect() as conn:
            for ref in refs:
                inst = self.store.record_institution(conn, ref)
                if inst is not None and inst != UNKNOWN_INSTITUTION:
                    out[ref] = inst
        missing = refs - set(out)
        for res in self._search_ids("Encounter", missing) if missing else ():
            provider = split_reference(str((res.get("serviceProvider") or {}).get("reference", "")))
            if provider is not None:
                out[f"Encounter/{res['id']}"] = provider[1]
        return out

    def _external_held(self, entries: list[dict[str, Any]]) -> dict[str, str]:
        inside = {a for e in entries for a in entry_aliases(e)}
        refs = {
            node["reference"]
            for e in entries
            if isinstance(e.get("resource"), dict)
            for node in iter_references(e["resource"])
            if node["reference"] not in inside and split_reference(node["reference"]) is not None
        }
        if not refs:
            return {}
        with self.repo.engine.connect() as conn:
            if not self.store.any_held(conn):
                return {}
            return self.store.held_keys(conn, refs)

    # ---- holding ----------------------------------------------------------------------------------
    @staticmethod
    def _stamped(entry: dict[str, Any], feed: str) -> dict[str, Any]:
        res = entry.get("resource")
        if not isinstance(res, dict) or (res.get("meta") or {}).get("source"):
            return entry
        meta = {**(res.get("meta") or {}), "source": FEED_SOURCE_PREFIX + feed}
        return {**entry, "resource": {**res, "meta": meta}}

    def _seal(self, resource: dict[str, Any]) -> str:
        protector: FieldProtector | None = self.repo.protector
        if protector is not None and resource.get("resourceType") in protector.protected_types:
            resource = protector.seal(resource)[0]
        return orjson.dumps(resource).decode()

    def _hold(
        self, screening: Screening, held: list[HeldEntry], verdicts: list[EntryVerdict], feed: str,
        source: str, now: float,
    ) -> None:  # fmt: skip
        by_index = {v.index: v for v in verdicts}
        ids = {h.index: str(uuid.uuid4()) for h in held}
        for h in held:
            verdict = by_index.get(h.index)
            ev = verdict.evaluation if verdict is not None else Evaluation()
            institution = (verdict.institution if verdict is not None else None) or UNKNOWN_INSTITUTION
            qid = ids[h.index]
            screening.held.append({
                "id": qid, "institution": institution[:80], "feed": feed, "source": source,
                "res_type": h.resource_type, "res_id": h.resource_id, "full_url": h.full_url,
                "request": orjson.dumps(h.request).decode(), "content": self._seal(h.resource),
                "findings": dump_findings(ev.findings), "own": h.own, "status": "held", "received_at": now,
                "day": local_day(now), "decided_at": None, "decided_by": None, "note": None,
                "released_ref": None,
            })  # fmt: skip
            screening.holds += [(qid, ids[j]) for j in h.holders] + [(qid, x) for x in h.external]
            key = f"quarantine/{qid}"
            screening.records.append(
                record_row(key, 1, h.resource_type, institution, feed, now, ev, quarantined=True)
            )
