"""SQL of the review queue: record sightings of unmapped local codes, list, read and decide review items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from healthbrain.core.db import begin_write
from healthbrain.terminology import tables as t

STATUSES = frozenset({"open", "resolved", "dismissed"})


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A local code waiting for (or having received) its standard code."""

    id: int
    system: str
    code: str
    display: str | None
    institution: str | None
    element: str
    status: str
    occurrences: int
    first_seen: float
    last_seen: float
    target_system: str | None
    target_code: str | None
    target_display: str | None
    equivalence: str | None
    concept_map: str | None
    decided_by: str | None
    decided_at: float | None
    applied: int

    def as_json(self) -> dict[str, Any]:
        """The API form (no patient data: codes, names of tests/drugs, counts)."""
        out: dict[str, Any] = {
            "id": self.id,
            "system": self.system,
            "code": self.code,
            "display": self.display,
            "institution": self.institution,
            "element": self.element,
            "status": self.status,
            "occurrences": self.occurrences,
            "firstSeen": self.first_seen,
            "lastSeen": self.last_seen,
        }
        if self.status != "open":
            out["decision"] = {
                "targetSystem": self.target_system,
                "targetCode": self.target_code,
                "targetDisplay": self.target_display,
                "equivalence": self.equivalence,
                "conceptMap": self.concept_map,
                "decidedBy": self.decided_by,
                "decidedAt": self.decided_at,
                "applied": self.applied,
            }
        return out


@dataclass(frozen=True, slots=True)
class Sighting:
    """An unmapped local code found in one stored resource."""

    system: str
    code: str
    display: str | None
    institution: str | None
    element: str
    res_type: str
    res_id: str


def _item(row: Any) -> ReviewItem:
    return ReviewItem(**{c: getattr(row, c) for c in ReviewItem.__dataclass_fields__})


class ReviewStore:
    """The review queue tables on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, sighting: Sighting, now: float) -> int:
        """Add a sighting (idempotent per resource); returns the review item's id."""
        r = t.review.c
        for _ in range(3):  # a concurrent first sighting of the same code wins the insert; retry as update
            try:
                with begin_write(self.engine) as conn:
                    row = conn.execute(
                        select(r.id, r.status).where(r.system == sighting.system, r.code == sighting.code)
                    ).first()
                    rid = self._insert(conn, sighting, now) if row is None else int(row.id)
                    self._occurrence(conn, rid, sighting, now)
                    return rid
            except IntegrityError:
                continue
        raise RuntimeError("could not record a review sighting")  # pragma: no cover - three lost races

    def _insert(self, conn: Connection, s: Sighting, now: float) -> int:
        result = conn.execute(
            insert(t.review).values(
                system=s.system,
                code=s.code,
                display=(s.display or None),
                institution=s.institution,
                element=s.element,
                status="open",
                occurrences=0,
                first_seen=now,
                last_seen=now,
                applied=0,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _occurrence(self, conn: Connection, rid: int, s: Sighting, now: float) -> None:
        o = t.occurrence.c
        known = conn.execute(
            select(o.review_id).where(o.review_id == rid, o.res_type == s.res_type, o.res_id == s.res_id)
        ).first()
        if known is not None:
            return
        conn.execute(
            insert(t.occurrence).values(review_id=rid, res_type=s.res_type, res_id=s.res_id, seen_at=now)
        )
        conn.execute(
            update(t.review)
            .where(t.review.c.id == rid)
            .values(occurrences=t.review.c.occurrences + 1, last_seen=now)
        )

    def get(self, rid: int) -> ReviewItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.review).where(t.review.c.id == rid)).first()
        return _item(row) if row is not None else None

    def find(self, system: str, code: str) -> ReviewItem | None:
        r = t.review.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.review).where(r.system == system, r.code == code)).first()
        return _item(row) if row is not None else None

    def page(
        self, *, status: str | None = "open", institution: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[ReviewItem], int]:
        """One page of items (most seen first) and the total."""
        r = t.review.c
        cond = and_(
            *([r.status == status] if status else []),
            *([r.institution == institution] if institution else []),
        )
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t.review).where(cond)).scalar_one())
            rows = conn.execute(
                select(t.review).where(cond).order_by(r.occurrences.desc(), r.id).limit(limit).offset(offset)
            ).all()
        return [_item(row) for row in rows], total

    def resources(self, rid: int, limit: int = 1000) -> list[tuple[str, str]]:
        o = t.occurrence.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.res_type, o.res_id).where(o.review_id == rid).order_by(o.seen_at).limit(limit)
            ).all()
        return [(str(a), str(b)) for a, b in rows]

    def decide(self, rid: int, status: str, by: str, now: float, **target: Any) -> bool:
        """Close an open item (resolved with its target, or dismissed); False when it was not open."""
        with begin_write(self.engine) as conn:
            result = conn.execute(
                update(t.review)
                .where(t.review.c.id == rid, t.review.c.status == "open")
                .values(status=status, decided_by=by[:200], decided_at=now, **target)
            )
            return bool(result.rowcount)

    def set_applied(self, rid: int, applied: int) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(update(t.review).where(t.review.c.id == rid).values(applied=applied))
