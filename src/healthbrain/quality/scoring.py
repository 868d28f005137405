"""The quality score of an institution's day: five component rates and their weighted 0-100 mean."""

from __future__ import annotations

from collections.abc import Mapping

from healthbrain.quality.model import DayCounts, QualityScore


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def components(counts: DayCounts) -> dict[str, float | None]:
    """Each dimension as a 0-100 rate (None when nothing of it was measured).

    Completeness is the share of expected elements present; validity, consistency and uniqueness
    the share of records without a finding of that dimension; timeliness the share of records
    with an event time that arrived within their type's target lag.
    """
    return {
        "completeness": _rate(counts.present, counts.expected),
        "validity": _rate(counts.valid, counts.records),
        "consistency": _rate(counts.consistent, counts.records),
        "timeliness": _rate(counts.timely, counts.timed),
        "uniqueness": _rate(counts.unique, counts.records),
    }


def score_day(counts: DayCounts, weights: Mapping[str, float]) -> QualityScore:
    """The weighted mean of the measured components, renormalised over those with data."""
    parts = components(counts)
    measured = {d: v for d, v in parts.items() if v is not None and weights.get(d, 0) > 0}
    total = sum(weights[d] for d in measured)
    score = round(sum(weights[d] * v for d, v in measured.items()) / total, 2) if total else None
    return QualityScore(score, parts, counts)


def add_counts(a: DayCounts, b: DayCounts) -> DayCounts:
    """Two days' (or feeds') counts together."""
    return DayCounts(*(x + y for x, y in zip(_fields(a), _fields(b), strict=True)))


def _fields(c: DayCounts) -> tuple[int, ...]:
    return (c.records, c.expected, c.present, c.valid, c.consistent, c.unique, c.timed, c.timely,
            c.quarantined, c.flagged)  # fmt: skip
