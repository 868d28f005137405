"""The review queue: reviewers' verdicts on possible matches, manual links and unlinks, and feedback."""

from __future__ import annotations

from sqlalchemy import Connection

from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, InvalidInput, NotFound
from healthbrain.mpi.feedback import MIN_LABELS, apply_feedback
from healthbrain.mpi.index import PatientIndex
from healthbrain.mpi.store import ReviewRow

VERDICTS = ("match", "no_match")


def _levels(review: ReviewRow) -> list[int]:
    return [int(f.get("level", -1)) for f in review.detail]


def decide_review(index: PatientIndex, review_id: int, verdict: str, actor: str) -> ReviewRow:
    """Apply a reviewer's verdict: 'match' links the two records' residents, 'no_match' records
    that they are different people (honoured by every later run). Either feeds the model."""
    if verdict not in VERDICTS:
        raise InvalidInput("the decision must be 'match' or 'no_match'", code="mpi.bad_verdict")
    with begin_write(index.engine) as conn:
        review = index.store.review(conn, review_id)
        if review is None:
            raise NotFound("no such review", code="mpi.review_not_found")
        if review.status != "open":
            raise Conflict("the review was already decided", code="mpi.review_closed")
        now = index.clock()
        index.store.put_decision(
            conn,
            review.patient_ref,
            review.candidate_ref,
            verdict,
            _levels(review),
            actor,
            now,
            bool(review.reasons),
        )
        if verdict == "match":
            _join(index, conn, review.patient_ref, review.candidate_ref, actor, now)
        index.store.decide_review(conn, review_id, "linked" if verdict == "match" else "rejected", actor, now)
        index.store.add_history(
            conn, at=now, actor=actor, action=f"review_{verdict}", patient_ref=review.patient_ref,
            other_id=review.candidate_ref, detail={"review": review_id, "probability": review.probability},
        )  # fmt: skip
        _feed_back(index, conn, now)
        decided = index.store.review(conn, review_id)
    assert decided is not None
    return decided


def _join(index: PatientIndex, conn: Connection, a: str, b: str, actor: str, now: float) -> None:
    link_a, link_b = index.store.link_of(conn, a), index.store.link_of(conn, b)
    if link_a is None or link_b is None:
        raise NotFound("a record of this review is no longer in the index", code="mpi.record_gone")
    if link_a.resident_id == link_b.resident_id:
        return
    if len(index.store.members(conn, link_a.resident_id)) == 1:
        index.store.move_link(conn, a, link_b.resident_id, "manual", now)
        index.store.retire_resident(conn, link_a.resident_id, link_b.resident_id, now)
        index.store.add_history(
            conn, at=now, actor=actor, action="manual_link", resident_id=link_b.resident_id, patient_ref=a,
            other_id=link_a.resident_id, detail={},
        )  # fmt: skip
        index._refresh_golden(conn, {link_b.resident_id}, now)
        return
    index._merge_into(conn, link_b.resident_id, [link_a.resident_id], actor, "review", now)


def _feed_back(index: PatientIndex, conn: Connection, now: float) -> None:
    """Refit m values from labelled pairs once there are enough confirmed matches."""
    labelled = index.store.labelled_levels(conn)
    if len([1 for _, levels, _ in labelled if levels]) < MIN_LABELS:
        return
    index.model = apply_feedback(index.model, labelled)
    index.store.save_model(conn, index.model, "feedback", now)


def link_manually(index: PatientIndex, patient_ref: str, resident_id: str, actor: str) -> None:
    """Put a record under a resident by hand; later runs keep it there."""
    with begin_write(index.engine) as conn:
        link = index.store.link_of(conn, patient_ref)
        target = index.store.resident(conn, resident_id)
        if link is None or target is None or target.status != "active":
            raise NotFound("no such record or active resident in the index", code="mpi.not_indexed")
        now = index.clock()
        index.store.move_link(conn, patient_ref, resident_id, "manual", now)
        for other in index.store.members(conn, resident_id):
            if other.patient_ref != patient_ref:
                index.store.put_decision(conn, patient_ref, other.patient_ref, "match", [], actor, now)
        if not index.store.members(conn, link.resident_id):
            index.store.retire_resident(conn, link.resident_id, resident_id, now)
        index._refresh_golden(conn, {resident_id, link.resident_id}, now)
        index.store.add_history(
            conn, at=now, actor=actor, action="manual_link", resident_id=resident_id, patient_ref=patient_ref,
            other_id=link.resident_id, detail={},
        )  # fmt: skip


def unlink(index: PatientIndex, patient_ref: str, actor: str) -> str:
    """Take a record out of its resident into a new one, recorded as not matching the others."""
    with begin_write(index.engine) as conn:
        link = index.store.link_of(conn, patient_ref)
        if link is None:
            raise NotFound("the record is not in the index", code="mpi.not_indexed")
        others = [
            m.patient_ref for m in index.store.members(conn, link.resident_id) if m.patient_ref != patient_ref
        ]
        if not others:
            return link.resident_id
        now, rid = index.clock(), index.new_id()
        index.store.move_link(conn, patient_ref, rid, "manual", now)
        for other in others:
            index.store.put_decision(conn, patient_ref, other, "no_match", [], actor, now)
        index._refresh_golden(conn, {rid, link.resident_id}, now)
        index.store.add_history(
            conn, at=now, actor=actor, action="unlink", resident_id=rid, patient_ref=patient_ref,
            other_id=link.resident_id, detail={"from": link.resident_id},
        )  # fmt: skip
        return rid
