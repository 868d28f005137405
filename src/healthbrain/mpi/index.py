"""PatientIndex: the patient index service — incremental matching on arrival, batch re-link, merges.

Matching itself is pure (`pipeline`, `scoring`); this class reads candidates, applies the model
and reviewers' decisions, and writes links, residents, reviews and history in one transaction.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

from healthbrain.core.db import begin_write
from healthbrain.core.errors import InvalidInput
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.frame import RecordFrame
from healthbrain.mpi.golden import golden_record
from healthbrain.mpi.guards import reason_names
from healthbrain.mpi.keys import probe_keys, stored_keys
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.pipeline import LinkSettings, decide
from healthbrain.mpi.records import PatientRecord, patient_record
from healthbrain.mpi.scoring import ScoredPairs, score_pairs
from healthbrain.mpi.sealing import Sealer
from healthbrain.mpi.store import LinkRow, MpiStore, pair_key

log = logging.getLogger("healthbrain.mpi")
SYSTEM = "system/mpi"


def new_resident_id() -> str:
    return f"R{uuid.uuid4().hex[:15].upper()}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One scored candidate of a record: its resident, probability, grade and per-field evidence."""

    patient_ref: str
    resident_id: str
    probability: float
    weight: float
    grade: str  # certain | probable | possible | certainly-not
    reasons: tuple[str, ...]
    fields: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What happened to an arriving record."""

    patient_ref: str
    resident_id: str
    state: str
    probability: float | None
    reviews: int = 0
    merged: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)


def explain(model: MatchModel, scored: ScoredPairs, k: int) -> tuple[dict[str, Any], ...]:
    """Per field: level, label and match weight of pair k (the explainable score)."""
    out = []
    for c, params in enumerate(model.fields):
        level = int(scored.levels[k, c])
        out.append(
            {
                "field": params.name,
                "level": level,
                "label": params.labels[level] if level >= 0 else "missing",
                "weight": round(float(scored.field_weights[k, c]), 3),
            }
        )
    return tuple(out)


def _grade(auto: bool, review: bool, probability: float, review_threshold: float) -> str:
    """The FHIR match-grade of a candidate."""
    if auto:
        return "certain"
    if review:
        return "probable" if probability >= review_threshold else "possible"
    return "certainly-not"


class PatientIndex:
    """The EMPI over one database: residents, links, reviews, history and the model."""

    def __init__(
        self,
        engine: Engine,
        settings: LinkSettings,
        model: MatchModel,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_resident_id,
        sealer: Sealer | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.model = model
        self.clock = clock
        self.new_id = new_id
        self.store = MpiStore(sealer)  # identifying rows sealed at rest when given the key ring

    # ---- scoring against stored records ------------------------------------------------------------
    def candidates_of(self, conn: Connection, record: PatientRecord) -> tuple[list[Candidate], list[LinkRow]]:
        """Score `record` against every stored record sharing a blocking key."""
        keys = probe_keys(chinese_frame([record]), self.settings.blocking, 0)
        _, rows = self.store.arrival(conn, record.ref, keys)
        return self.score_against(record, rows), rows

    def score_against(self, record: PatientRecord, rows: Sequence[LinkRow]) -> list[Candidate]:
        """Candidates of `record` among stored `rows`, best first, graded and explained."""
        if not rows:
            return []
        frame = chinese_frame([record, *(r.record for r in rows)])
        right = np.arange(1, len(rows) + 1, dtype=np.int64)
        left = np.zeros(len(rows), dtype=np.int64)
        scored = score_pairs(frame, self.settings.comparisons, self.model, left, right)
        names = [c.name for c in self.settings.comparisons]
        guard = self.settings.guard
        reasons = guard(frame, scored, names) if guard else np.zeros(len(rows), dtype=np.int32)
        auto, review = decide(self.model, scored.probability, reasons, self.settings.review_floor)
        out = []
        for k, row in enumerate(rows):
            grade = _grade(bool(auto[k]), bool(review[k]), float(scored.probability[k]), self.model.review)
            out.append(
                Candidate(
                    row.patient_ref,
                    row.resident_id,
                    float(scored.probability[k]),
                    float(scored.weight[k]),
                    grade,
                    tuple(reason_names(int(reasons[k]))),
                    explain(self.model, scored, k),
                )
            )
        out.sort(key=lambda c: -c.weight)
        return out

    # ---- incremental -------------------------------------------------------------------------------
    def ingest(self, resource: dict[str, Any], version: int = 1, actor: str = SYSTEM) -> LinkOutcome:
        """Match a new or changed Patient and link it (idempotent per resource version)."""
        record = patient_record(resource, version)
        with begin_write(self.engine) as conn:
            return self._ingest(conn, record, actor)

    def _ingest(self, conn: Connection, record: PatientRecord, actor: str) -> LinkOutcome:
        # Round trips are what an arrival costs on a networked database: one query brings the
        # record's own link and its candidates', and writes of new rows skip the update-first probe.
        now = self.clock()
        own = chinese_frame([record])
        previous, rows = self.store.arrival(conn, record.ref, probe_keys(own, self.settings.blocking, 0))
        if previous is not None and previous.version >= record.version > 0:
            return LinkOutcome(record.ref, previous.resident_id, previous.state, previous.score)
        if previous is not None and previous.state == "manual":
            self._store_record(conn, record, previous.resident_id, "manual", previous.score, now, own, True)
            return LinkOutcome(record.ref, previous.resident_id, "manual", previous.score)
        candidates = self.score_against(record, rows)
        verdicts = self.store.decisions(conn, [record.ref])
        forced = [c for c in candidates if verdicts.get(pair_key(record.ref, c.patient_ref)) == "match"]
        banned = {
            c.patient_ref
            for c in candidates
            if verdicts.get(pair_key(record.ref, c.patient_ref)) == "no_match"
        }
        auto = [c for c in candidates if (c.grade == "certain" and c.patient_ref not in banned)] + forced
        residents = list(dict.fromkeys(c.resident_id for c in auto))
        merged: tuple[str, ...] = ()
        if residents:
            target = residents[0]
            if len(residents) > 1:
                merged = tuple(self._merge_into(conn, target, residents[1:], actor, "bridging record", now))
            state, score = "auto", max(c.probability for c in auto)
        else:
            target = self._own_resident(conn, previous)
            state, score = "possible" if any(c.grade != "certainly-not" for c in candidates) else "auto", None
        self._store_record(conn, record, target, state, score, now, own, previous is not None)
        reviews = 0
        for c in candidates:
            if (
                c.grade in ("probable", "possible")
                and c.resident_id != target
                and c.patient_ref not in banned
            ):
                self.store.open_review(
                    conn, record.ref, c.patient_ref, c.probability, c.weight, c.reasons, c.fields, now
                )
                reviews += 1
        stale = {previous.resident_id} if previous else set()
        if not residents and (previous is None or target != previous.resident_id):
            # a new resident holding this record alone: its golden record needs no reading back
            self.store.put_resident(conn, target, golden_record([record]), now, exists=False)
        else:
            stale.add(target)
        self._refresh_golden(conn, stale, now)
        if (
            previous is not None
            and previous.resident_id != target
            and not self.store.members(conn, previous.resident_id)
        ):
            self.store.retire_resident(conn, previous.resident_id, target, now)  # its only record moved on
        self.store.add_history(
            conn, at=now, actor=actor, action="link", resident_id=target, patient_ref=record.ref,
            detail={"state": state, "probability": score, "reviews": reviews, "version": record.version},
        )  # fmt: skip
        return LinkOutcome(record.ref, target, state, score, reviews, merged, tuple(candidates))

    def _own_resident(self, conn: Connection, previous: LinkRow | None) -> str:
        """The record's resident when it links to nobody: its old one if it was alone there."""
        if previous is not None and len(self.store.members(conn, previous.resident_id)) <= 1:
            return previous.resident_id
        return self.new_id()

    def _store_record(
        self,
        conn: Connection,
        record: PatientRecord,
        resident_id: str,
        state: str,
        score: float | None,
        now: float,
        frame: RecordFrame | None = None,
        exists: bool | None = None,
    ) -> None:
        """Write the record's link and blocking keys (`frame`: its features, if already made;
        `exists`: whether it has a stored link, when known)."""
        self.store.put_link(conn, record, resident_id, state, score, now, exists)
        keys = stored_keys(frame if frame is not None else chinese_frame([record]), self.settings.blocking, 0)
        self.store.set_keys(conn, record.ref, keys, fresh=exists is False)

    def _refresh_golden(self, conn: Connection, resident_ids: set[str], now: float) -> None:
        for rid in resident_ids:
            members = self.store.members(conn, rid)
            if members:
                self.store.put_resident(conn, rid, golden_record([m.record for m in members]), now)

    def resident_of(self, patient_ref: str) -> str | None:
        """The resident a Patient record (`Patient/<id>`) is linked to; None if it is not indexed."""
        with self.engine.connect() as conn:
            link = self.store.link_of(conn, patient_ref)
        return None if link is None else link.resident_id

    def remove(self, patient_ref: str, actor: str = SYSTEM) -> None:
        """Forget a deleted Patient: its link, keys and open reviews; its resident keeps the rest."""
        with begin_write(self.engine) as conn:
            now = self.clock()
            previous = self.store.link_of(conn, patient_ref)
            if previous is None:
                return
            self.store.delete_link(conn, patient_ref)
            self.store.close_reviews_of(conn, patient_ref, "obsolete", now)
            members = self.store.members(conn, previous.resident_id)
            if members:
                self._refresh_golden(conn, {previous.resident_id}, now)
            else:
                self.store.retire_resident(conn, previous.resident_id, "", now)
            self.store.add_history(
                conn, at=now, actor=actor, action="unlink", resident_id=previous.resident_id,
                patient_ref=patient_ref, detail={"reason": "deleted"},
            )  # fmt: skip

    # ---- merges ---------------------------------------------------------------------------------------
    def _merge_into(
        self, conn: Connection, target: str, others: Sequence[str], actor: str, why: str, now: float
    ) -> list[str]:
        merged = []
        for other in others:
            moved = [m.patient_ref for m in self.store.members(conn, other)]
            for ref in moved:
                row = self.store.link_of(conn, ref)
                self.store.move_link(conn, ref, target, row.state if row else "auto", now)
            self.store.retire_resident(conn, other, target, now)
            self.store.add_history(
                conn, at=now, actor=actor, action="merge", resident_id=target, other_id=other,
                detail={"moved": moved, "why": why},
            )  # fmt: skip
            merged.append(other)
        self._refresh_golden(conn, {target}, now)
        return merged

    def merge(self, target: str, other: str, actor: str) -> int:
        """Merge resident `other` into `target`; returns the history entry that can undo it."""
        if target == other:
            raise InvalidInput("a resident cannot be merged into itself", code="mpi.self_merge")
        with begin_write(self.engine) as conn:
            for rid in (target, other):
                row = self.store.resident(conn, rid)
                if row is None or row.status != "active":
                    raise InvalidInput("both residents must exist and be active", code="mpi.bad_merge")
            self._merge_into(conn, target, [other], actor, "manual", self.clock())
            return int(self.store.history(conn, resident_id=other)[-1]["id"])

    def unmerge(self, entry: int, actor: str) -> str:
        """Undo a merge: the records it moved go back to the resident they came from."""
        with begin_write(self.engine) as conn:
            found = self.store.history(conn, entry=entry)
            if not found or found[0]["action"] != "merge":
                raise InvalidInput("no such merge in the history", code="mpi.no_such_merge")
            merge = found[0]
            now, target, other = self.clock(), merge["residentId"], merge["other"]
            moved = [
                ref for ref in merge["detail"].get("moved", []) if self.store.link_of(conn, ref) is not None
            ]
            for ref in moved:
                self.store.move_link(conn, ref, other, "manual", now)
            self._refresh_golden(conn, {target, other}, now)
            for a in moved:
                for b in [m.patient_ref for m in self.store.members(conn, target)]:
                    self.store.put_decision(conn, a, b, "no_match", [], actor, now)
            self.store.add_history(
                conn, at=now, actor=actor, action="unmerge", resident_id=other, other_id=target,
                detail={"moved": moved, "undoes": entry},
            )  # fmt: skip
            return str(other)
