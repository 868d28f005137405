"""SQL access to the patient index's tables; every method runs on a connection the caller holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Select, delete, func, insert, select, union_all, update

from healthbrain.mpi import tables as t
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.records import PatientRecord, record_from_json, record_to_json
from healthbrain.mpi.sealing import PlainSealer, Sealer


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class LinkRow:
    patient_ref: str
    resident_id: str
    state: str  # auto | possible | manual | no_match
    score: float | None
    version: int
    record: PatientRecord


@dataclass(frozen=True, slots=True)
class ResidentRow:
    id: str
    status: str
    merged_into: str | None
    golden: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ReviewRow:
    id: int
    patient_ref: str
    candidate_ref: str
    probability: float
    weight: float
    reasons: list[str]
    detail: list[dict[str, Any]]
    status: str
    created_at: float
    decided_at: float | None
    decided_by: str | None


def pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class MpiStore:
    """Rows of the mpi_* tables in and out; identifying blobs and blocking keys through the sealer."""

    def __init__(self, sealer: Sealer | None = None) -> None:
        self.sealer: Sealer = sealer if sealer is not None else PlainSealer()

    # ---- sealing ---------------------------------------------------------------------------------
    def record_text(self, record: PatientRecord) -> str:
        """The stored (sealed) form of a record, bound to its Patient reference."""
        return self.sealer.seal(_dumps(record_to_json(record)), f"record:{record.ref}")

    def open_record(self, ref: str, stored: str) -> PatientRecord:
        return record_from_json(orjson.loads(self.sealer.open(stored, f"record:{ref}")))

    def golden_text(self, rid: str, golden: Mapping[str, Any]) -> str:
        return self.sealer.seal(_dumps(golden), f"golden:{rid}")

    def open_golden(self, rid: str, stored: str) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.sealer.open(stored, f"golden:{rid}"))
        return doc

    def model_text(self, model: MatchModel) -> str:
        # the term-frequency tables list names seen more than once: sealed like the records
        return self.sealer.seal(_dumps(model.to_json()), "model")

    def open_model(self, stored: str) -> MatchModel:
        return MatchModel.from_json(orjson.loads(self.sealer.open(stored, "model")))

    def stored_keys(self, keys: Iterable[str]) -> list[str]:
        """Blocking keys as stored (blind indexes when sealing), without repeats."""
        return list(dict.fromkeys(self.sealer.blind(k) for k in keys))

    # ---- links and keys ------------------------------------------------------------------------
    def _link(self, row: Any) -> LinkRow:
        return LinkRow(
            row.patient_ref, row.resident_id, row.state, row.score, row.version,
            self.open_record(row.patient_ref, row.record),
        )  # fmt: skip

    def link_of(self, conn: Connection, ref: str) -> LinkRow | None:
        row = conn.execute(select(t.link).where(t.link.c.patient_ref == ref)).first()
        return self._link(row) if row is not None else None

    def links(self, conn: Connection, refs: Iterable[str]) -> dict[str, LinkRow]:
        wanted = list(dict.fromkeys(refs))
        out: dict[str, LinkRow] = {}
        for start in range(0, len(wanted), 500):
            rows = conn.execute(select(t.link).where(t.link.c.patient_ref.in_(wanted[start : start + 500])))
            out.update((r.patient_ref, self._link(r)) for r in rows)
        return out

    def members(self, conn: Connection, resident_id: str) -> list[LinkRow]:
        rows = conn.execute(
            select(t.link).where(t.link.c.resident_id == resident_id).order_by(t.link.c.patient_ref)
        )
        return [self._link(r) for r in rows]

    def all_links(self, conn: Connection) -> list[LinkRow]:
        return [self._link(r) for r in conn.execute(select(t.link).order_by(t.link.c.patient_ref))]

    def put_link(
        self,
        conn: Connection,
        record: PatientRecord,
        resident_id: str,
        state: str,
        score: float | None,
        now: float,
        exists: bool | None = None,
    ) -> None:
        """Write the link of `record`; `exists` (when known) saves a round trip."""
        values = {
            "resident_id": resident_id, "state": state, "score": score, "version": record.version,
            "source": record.source[:64], "record": self.record_text(record), "updated_at": now,
        }  # fmt: skip
        if exists is False:
            conn.execute(insert(t.link).values(patient_ref=record.ref, **values))
            return
        done = conn.execute(update(t.link).where(t.link.c.patient_ref == record.ref).values(**values))
        if not done.rowcount and exists is None:
            conn.execute(insert(t.link).values(patient_ref=record.ref, **values))

    def move_link(self, conn: Connection, ref: str, resident_id: str, state: str, now: float) -> None:
        conn.execute(
            update(t.link)
            .where(t.link.c.patient_ref == ref)
            .values(resident_id=resident_id, state=state, updated_at=now)
        )

    def delete_link(self, conn: Connection, ref: str) -> None:
        conn.execute(delete(t.link).where(t.link.c.patient_ref == ref))
        conn.execute(delete(t.block_key).where(t.block_key.c.patient_ref == ref))

    def set_keys(self, conn: Connection, ref: str, keys: Sequence[str], fresh: bool = False) -> None:
        """Replace the blocking keys of `ref` (`fresh`: it has none yet, as it has no link)."""
        if not fresh:
            conn.execute(delete(t.block_key).where(t.block_key.c.patient_ref == ref))
        if keys:
            conn.execute(
                insert(t.block_key), [{"key": k, "patient_ref": ref} for k in self.stored_keys(keys)]
            )

    def _limits(self, keys: Mapping[str, int]) -> dict[str, int]:
        """Probe keys as stored, each with its rule's `max_block`."""
        limits: dict[str, int] = {}
        for key, limit in keys.items():
            blind = self.sealer.blind(key)
            limits[blind] = max(limits.get(blind, 0), limit)
        return limits

    def arrival(
        self, conn: Connection, ref: str, keys: Mapping[str, int]
    ) -> tuple[LinkRow | None, list[LinkRow]]:
        """The stored link of `ref` and the links of the Patients sharing a usable key with it, in one
        round trip (keys held by more than their rule's `max_block` records are skipped)."""
        c = t.link.c
        wanted = c.patient_ref == ref
        limits = self._limits(keys)
        if limits:
            k = t.block_key.c
            groups: dict[int, list[str]] = {}
            for key, limit in limits.items():
                groups.setdefault(limit, []).append(key)
            usable: list[Select[Any]] = [
                select(k.key).where(k.key.in_(group)).group_by(k.key).having(func.count() <= limit)
                for limit, group in sorted(groups.items())
            ]
            shared = usable[0] if len(usable) == 1 else union_all(*usable)
            wanted = wanted | c.patient_ref.in_(select(k.patient_ref).where(k.key.in_(shared)))
        previous, others = None, []
        for row in conn.execute(select(t.link).where(wanted).order_by(c.patient_ref)):
            if row.patient_ref == ref:
                previous = self._link(row)
            else:
                others.append(self._link(row))
        return previous, others

    def candidates(self, conn: Connection, keys: Mapping[str, int], exclude: str) -> list[str]:
        """Patients sharing a key, skipping keys held by more than their rule's `max_block` records."""
        if not keys:
            return []
        limits = self._limits(keys)
        k = t.block_key.c
        counts: dict[str, int] = dict(
            conn.execute(select(k.key, func.count()).where(k.key.in_(list(limits))).group_by(k.key)).all()
        )
        usable = [key for key, n in counts.items() if n <= limits[key]]
        if not usable:
            return []
        rows = conn.execute(select(k.patient_ref).where(k.key.in_(usable)).distinct())
        return sorted(r.patient_ref for r in rows if r.patient_ref != exclude)

    # ---- residents -----------------------------------------------------------------------------
    def resident(self, conn: Connection, rid: str) -> ResidentRow | None:
        row = conn.execute(select(t.resident).where(t.resident.c.id == rid)).first()
        if row is None:
            return None
        return ResidentRow(
            row.id, row.status, row.merged_into, self.open_golden(row.id, row.golden), row.created_at,
            row.updated_at,
        )  # fmt: skip

    def put_resident(
        self, conn: Connection, rid: str, golden: Mapping[str, Any], now: float, exists: bool | None = None
    ) -> None:
        """Create the resident, or make it active again with a fresh golden record (`exists`: known)."""
        values = {
            "status": "active",
            "merged_into": None,
            "golden": self.golden_text(rid, golden),
            "updated_at": now,
        }
        if exists is False:
            conn.execute(insert(t.resident).values(id=rid, created_at=now, **values))
            return
        done = conn.execute(update(t.resident).where(t.resident.c.id == rid).values(**values))
        if not done.rowcount and exists is None:
            conn.execute(insert(t.resident).values(id=rid, created_at=now, **values))

    def retire_resident(self, conn: Connection, rid: str, into: str, now: float) -> None:
        conn.execute(
            update(t.resident)
            .where(t.resident.c.id == rid)
            .values(status="merged", merged_into=into, updated_at=now)
        )

    def count_residents(self, conn: Connection) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(t.resident).where(t.resident.c.status == "active")
            ).scalar_one()
        )

    # ---- history -------------------------------------------------------------------------------
    def add_history(
        self, conn: Connection, *, at: float, actor: str, action: str, resident_id: str | None = None,
        patient_ref: str | None = None, other_id: str | None = None, detail: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        result = conn.execute(
            insert(t.history).values(
                at=at,
                actor=actor[:200],
                action=action,
                resident_id=resident_id,
                patient_ref=patient_ref,
                other_id=other_id,
                detail=_dumps(dict(detail or {})),
            )
        )
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def history(
        self, conn: Connection, *, resident_id: str | None = None, entry: int | None = None
    ) -> list[dict[str, Any]]:
        h = t.history.c
        query = select(t.history).order_by(h.id)
        if resident_id is not None:
            query = query.where((h.resident_id == resident_id) | (h.other_id == resident_id))
        if entry is not None:
            query = query.where(h.id == entry)
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "residentId": r.resident_id,
                "patient": r.patient_ref,
                "other": r.other_id,
                "detail": orjson.loads(r.detail),
            }
            for r in conn.execute(query)
        ]

    # ---- reviews and decisions -----------------------------------------------------------------
    @staticmethod
    def _review(r: Any) -> ReviewRow:
        return ReviewRow(
            r.id, r.patient_ref, r.candidate_ref, r.probability, r.weight, orjson.loads(r.reasons),
            orjson.loads(r.detail), r.status, r.created_at, r.decided_at, r.decided_by,
        )  # fmt: skip

    def open_review(
        self, conn: Connection, a: str, b: str, probability: float, weight: float,
        reasons: Sequence[str], detail: Sequence[Mapping[str, Any]], now: float,
    ) -> None:  # fmt: skip
        """Open (or refresh) the review of a pair."""
        a, b = pair_key(a, b)
        r = t.review.c
        values = {
            "probability": probability, "weight": weight, "reasons": _dumps(list(reasons)),
            "detail": _dumps([dict(d) for d in detail]), "created_at": now,
        }  # fmt: skip
        done = conn.execute(
            update(t.review)
            .where(r.patient_ref == a, r.candidate_ref == b, r.status == "open")
            .values(**values)
        )
        if not done.rowcount:
            conn.execute(insert(t.review).values(patient_ref=a, candidate_ref=b, status="open", **values))

    def close_reviews_of(self, conn: Connection, ref: str, status: str, now: float) -> None:
        r = t.review.c
        conn.execute(
            update(t.review)
            .where(((r.patient_ref == ref) | (r.candidate_ref == ref)) & (r.status == "open"))
            .values(status=status, decided_at=now)
        )

    def reviews(self, conn: Connection, status: str, limit: int, offset: int) -> list[ReviewRow]:
        r = t.review.c
        rows = conn.execute(
            select(t.review)
            .where(r.status == status)
            .order_by(r.probability.desc(), r.id)
            .limit(limit)
            .offset(offset)
        )
        return [self._review(x) for x in rows]

    def review(self, conn: Connection, review_id: int) -> ReviewRow | None:
        row = conn.execute(select(t.review).where(t.review.c.id == review_id)).first()
        return self._review(row) if row is not None else None

    def decide_review(self, conn: Connection, review_id: int, status: str, actor: str, now: float) -> None:
        conn.execute(
            update(t.review)
            .where(t.review.c.id == review_id)
            .values(status=status, decided_at=now, decided_by=actor[:200])
        )

    def put_decision(
        self, conn: Connection, a: str, b: str, verdict: str, levels: Sequence[int], actor: str, now: float,
        guarded: bool = False,
    ) -> None:  # fmt: skip
        a, b = pair_key(a, b)
        d = t.decision.c
        conn.execute(delete(t.decision).where(d.ref_a == a, d.ref_b == b))
        conn.execute(
            insert(t.decision).values(
                ref_a=a,
                ref_b=b,
                verdict=verdict,
                levels=_dumps({"levels": list(levels), "guarded": guarded}),
                decided_by=actor[:200],
                decided_at=now,
            )
        )

    def decisions(self, conn: Connection, refs: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
        d = t.decision.c
        query = select(d.ref_a, d.ref_b, d.verdict)
        if refs is not None:
            wanted = list(refs)
            query = query.where(d.ref_a.in_(wanted) | d.ref_b.in_(wanted))
        return {(r.ref_a, r.ref_b): r.verdict for r in conn.execute(query)}

    def labelled_levels(self, conn: Connection) -> list[tuple[str, list[int], bool]]:
        """(verdict, levels, guarded) of every reviewer decision, for feeding back into the model."""
        d = t.decision.c
        out = []
        for r in conn.execute(select(d.verdict, d.levels)):
            doc = orjson.loads(r.levels)
            out.append((str(r.verdict), [int(x) for x in doc.get("levels", [])], bool(doc.get("guarded"))))
        return out

    # ---- model ---------------------------------------------------------------------------------
    def active_model(self, conn: Connection) -> MatchModel | None:
        m = t.model.c
        row = conn.execute(select(m.content).where(m.active.is_(True)).order_by(m.id.desc()).limit(1)).first()
        return self.open_model(row.content) if row is not None else None

    def save_model(self, conn: Connection, model: MatchModel, origin: str, now: float) -> None:
        conn.execute(update(t.model).where(t.model.c.active.is_(True)).values(active=False))
        conn.execute(
            insert(t.model).values(created_at=now, origin=origin, active=True, content=self.model_text(model))
        )
