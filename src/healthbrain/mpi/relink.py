"""Batch re-link: every stored record matched again at once, honouring reviewers, keeping resident ids."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from sqlalchemy import Connection, delete, insert, update

from healthbrain.core.db import begin_write
from healthbrain.mpi import tables as t
from healthbrain.mpi.cluster import connected_clusters, stable_ids
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.golden import golden_record
from healthbrain.mpi.guards import reason_names
from healthbrain.mpi.index import SYSTEM, PatientIndex, explain
from healthbrain.mpi.keys import stored_keys
from healthbrain.mpi.pipeline import LinkResult, link_records
from healthbrain.mpi.records import PatientRecord
from healthbrain.mpi.store import LinkRow, pair_key
from healthbrain.mpi.training import train_model

log = logging.getLogger("healthbrain.mpi")


@dataclass(frozen=True, slots=True)
class RelinkSummary:
    records: int
    residents: int
    moved: int
    reviews: int
    candidate_pairs: int
    seconds: float


def _constrained_labels(
    result: LinkResult, ids: Sequence[str], previous: dict[str, LinkRow], verdicts: dict[tuple[str, str], str]
) -> np.ndarray:
    """Clusters of auto-links, minus pairs reviewers rejected, plus pairs they confirmed and
    manual links kept together."""
    scored = result.scored
    left, right = scored.left[result.linked], scored.right[result.linked]
    keep = np.array(
        [
            verdicts.get(pair_key(ids[a], ids[b])) != "no_match"
            for a, b in zip(left.tolist(), right.tolist(), strict=True)
        ],
        dtype=bool,
    )
    left, right = left[keep], right[keep]
    position = {ref: k for k, ref in enumerate(ids)}
    extra = [
        (position[a], position[b])
        for (a, b), v in verdicts.items()
        if v == "match" and a in position and b in position
    ]
    manual: dict[str, list[int]] = defaultdict(list)
    for ref, row in previous.items():
        if row.state == "manual" and ref in position:
            manual[row.resident_id].append(position[ref])
    for members in manual.values():
        extra.extend(pairwise(members))
    if extra:
        left = np.r_[left, np.asarray([a for a, _ in extra], dtype=np.int64)]
        right = np.r_[right, np.asarray([b for _, b in extra], dtype=np.int64)]
    return connected_clusters(len(ids), left, right)


def relink(
    index: PatientIndex,
    records: Sequence[PatientRecord] | None = None,
    *,
    train: bool = False,
    prune: bool = False,
    actor: str = SYSTEM,
) -> RelinkSummary:
    """Re-link `records` (default: every stored record) in one batch and write the result.

    With `prune`, stored links of records not in `records` (Patients deleted since) are dropped.
    """
    started = time.perf_counter()
    with index.engine.connect() as conn:
        previous = {row.patient_ref: row for row in index.store.all_links(conn)}
        verdicts = index.store.decisions(conn)
    records = list(records) if records is not None else [row.record for row in previous.values()]
    frame = chinese_frame(records)
    if train:
        index.model = train_model(
            frame, index.settings.comparisons, index.settings.blocking, index.settings.training,
            index.settings.link_type, previous=index.model,
        )  # fmt: skip
    result = link_records(frame, index.settings, index.model)
    ids = list(frame.ids)
    labels = _constrained_labels(result, ids, previous, verdicts)
    before = {ref: row.resident_id for ref, row in previous.items()}
    assignment = stable_ids(labels, ids, before, index.new_id)
    with begin_write(index.engine) as conn:
        now = index.clock()
        if train:
            index.store.save_model(conn, index.model, "trained", now)
        if prune:
            present = set(ids)
            for ref in [r for r in previous if r not in present]:
                index.store.delete_link(conn, ref)
                index.store.close_reviews_of(conn, ref, "obsolete", now)
        moved = _write_links(index, conn, records, frame, assignment, previous, labels, result, now)
        reviews = _write_reviews(index, conn, result, ids, assignment, verdicts, now)
        residents = len(set(assignment.values()))
        index.store.add_history(
            conn, at=now, actor=actor, action="relink",
            detail={"records": len(records), "residents": residents, "moved": moved, "reviews": reviews},
        )  # fmt: skip
    seconds = time.perf_counter() - started
    log.info(
        "mpi.relink", extra={"fields": {"records": len(records), "residents": residents, "seconds": seconds}}
    )
    return RelinkSummary(len(records), residents, moved, reviews, len(result.pairs), seconds)


def _write_links(
    index: PatientIndex, conn: Connection, records: Sequence[PatientRecord], frame: object,
    assignment: dict[str, str], previous: dict[str, LinkRow], labels: np.ndarray, result: LinkResult,
    now: float,
) -> int:  # fmt: skip
    linked_records = np.zeros(len(records), dtype=bool)
    linked_records[result.scored.left[result.linked]] = True
    linked_records[result.scored.right[result.linked]] = True
    in_review = np.zeros(len(records), dtype=bool)
    in_review[result.scored.left[result.review]] = True
    in_review[result.scored.right[result.review]] = True
    refs = [r.ref for r in records]
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        conn.execute(delete(t.link).where(t.link.c.patient_ref.in_(chunk)))
        conn.execute(delete(t.block_key).where(t.block_key.c.patient_ref.in_(chunk)))
    link_rows: list[dict[str, object]] = []
    key_rows: list[dict[str, str]] = []
    moved = 0
    for k, record in enumerate(records):
        old = previous.get(record.ref)
        state = "manual" if old is not None and old.state == "manual" else (
            "auto" if linked_records[k] or not in_review[k] else "possible")  # fmt: skip
        rid = assignment[record.ref]
        moved += old is not None and old.resident_id != rid
        link_rows.append({
            "patient_ref": record.ref, "resident_id": rid, "state": state, "score": None,
            "version": record.version,
            "source": record.source[:64], "record": index.store.record_text(record), "updated_at": now,
        })  # fmt: skip
        key_rows.extend({"key": key, "patient_ref": record.ref} for key in index.store.stored_keys(
            stored_keys(frame, index.settings.blocking, k)))  # type: ignore[arg-type]  # fmt: skip
    for start in range(0, len(link_rows), 5000):
        conn.execute(insert(t.link), link_rows[start : start + 5000])
    for start in range(0, len(key_rows), 20000):
        conn.execute(insert(t.block_key), key_rows[start : start + 20000])
    members: dict[str, list[PatientRecord]] = defaultdict(list)
    for record in records:
        members[assignment[record.ref]].append(record)
    for rid, group in members.items():
        index.store.put_resident(conn, rid, golden_record(group), now)
    gone: dict[str, Counter[str]] = defaultdict(Counter)
    for ref, old in previous.items():
        if old.resident_id not in members and ref in assignment:
            gone[old.resident_id][assignment[ref]] += 1
    for rid, where in gone.items():
        into = where.most_common(1)[0][0]
        index.store.retire_resident(conn, rid, into, now)
        index.store.add_history(conn, at=now, actor=SYSTEM, action="merge", resident_id=into, other_id=rid,
                                detail={"why": "relink"})  # fmt: skip
    return int(moved)


def _write_reviews(
    index: PatientIndex, conn: Connection, result: LinkResult, ids: Sequence[str], assignment: dict[str, str],
    verdicts: dict[tuple[str, str], str], now: float,
) -> int:  # fmt: skip
    conn.execute(
        update(t.review).where(t.review.c.status == "open").values(status="obsolete", decided_at=now)
    )
    opened = 0
    scored = result.scored
    for k in np.flatnonzero(result.review).tolist():
        a, b = ids[int(scored.left[k])], ids[int(scored.right[k])]
        if assignment[a] == assignment[b] or pair_key(a, b) in verdicts:
            continue
        index.store.open_review(
            conn, a, b, float(scored.probability[k]), float(scored.weight[k]),
            reason_names(int(result.reasons[k])), explain(index.model, scored, k), now,
        )  # fmt: skip
        opened += 1
    return opened
