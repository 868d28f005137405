"""k-anonymity over declared quasi-identifiers: full-domain generalisation, suppression, risk report.

Each quasi-identifier has a generalisation hierarchy (age: birth year → 5, 10, 20-year bands → *;
home region: county → city → province → *; 身份证 area code: 6 → 4 → 2 digits → *; gender: value
→ *). The search walks the lattice of level combinations from the least generalised up. A
combination is feasible when its equivalence classes all reach `k` once at most `max_suppression`
of the records (those in smaller classes) are suppressed. A combination that generalises a
feasible one is skipped (Incognito's and OLA's monotonicity), so the feasible combinations found
are the k-minimal ones; of these the one of least information loss is released: Iyengar's loss
metric (each released value costs the share of its attribute's observed values it merges, a
suppressed record costs 1 on every attribute), ties going to the lower normalised height.
Only declared quasi-identifiers are released.

See: Sweeney 2002 (k-anonymity); El Emam et al. 2009, "A globally optimal k-anonymity method for
the de-identification of health data" (OLA, prosecutor risk); GB/T 37964-2019 §A.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.security.deid import QuasiValues

__all__ = ["QUASI_IDENTIFIERS", "KAnonResult", "RiskReport", "anonymize", "level_labels"]

AGE_BANDS = (5, 10, 20)
TOP_AGE = 90  # ages from 90 up form one band (HIPAA Safe Harbor §164.514(b)(2)(i)(C))
RISK_THRESHOLDS = (0.2, 0.09)  # prosecutor risk thresholds for controlled and public release

Value = Any  # a hashable generalised value; None stands for "suppressed / unknown"


def _age(q: QuasiValues, level: int, ref_year: int) -> tuple[Value, dict[str, Any]]:
    if q.birth_year is None or level > len(AGE_BANDS):
        return None, {}
    age = max(0, ref_year - q.birth_year)
    if age >= TOP_AGE:
        return ("top",), {"age_band": (TOP_AGE, 120)}
    if level == 0:
        return q.birth_year, {"birth_year": q.birth_year}
    width = AGE_BANDS[level - 1]
    low = age // width * width
    return (low, width), {"age_band": (low, min(low + width - 1, TOP_AGE - 1))}


def _gender(q: QuasiValues, level: int, _ref_year: int) -> tuple[Value, dict[str, Any]]:
    if q.gender is None or level > 0:
        return None, {}
    return q.gender, {"gender": q.gender}


def _region(q: QuasiValues, level: int, _ref_year: int) -> tuple[Value, dict[str, Any]]:
    if q.region is None or level > 2:
        return None, {}
    kept = q.region[: 3 - level]
    return kept, {"region": kept}


def _id_area(q: QuasiValues, level: int, _ref_year: int) -> tuple[Value, dict[str, Any]]:
    if q.id_area is None or level > 2:
        return None, {}
    kept = q.id_area[: 6 - 2 * level]
    return kept, {"id_area": kept}


@dataclass(frozen=True, slots=True)
class _Hierarchy:
    levels: tuple[str, ...]  # the label of each level, the last one being "suppressed"
    generalise: Callable[[QuasiValues, int, int], tuple[Value, dict[str, Any]]]


QUASI_IDENTIFIERS: dict[str, _Hierarchy] = {
    "age": _Hierarchy(("birth year", "5-year band", "10-year band", "20-year band", "suppressed"), _age),
    "gender": _Hierarchy(("gender", "suppressed"), _gender),
    "region": _Hierarchy(("county", "city", "province", "suppressed"), _region),
    "id_area": _Hierarchy(("6-digit area", "4-digit area", "2-digit area", "suppressed"), _id_area),
}


def level_labels(quasi_identifiers: Sequence[str], levels: Sequence[int]) -> dict[str, str]:
    """The chosen generalisation of each quasi-identifier, in words."""
    return {q: QUASI_IDENTIFIERS[q].levels[lv] for q, lv in zip(quasi_identifiers, levels, strict=True)}


@dataclass(frozen=True, slots=True)
class RiskReport:
    """The residual re-identification risk of a release (prosecutor model: the attacker knows the
    target is in the data set and knows its quasi-identifiers)."""

    k: int
    max_suppression: float
    quasi_identifiers: tuple[str, ...]
    generalisation: dict[str, str]
    records: int
    released: int
    suppressed: int
    classes: int
    smallest_class: int
    median_class: float
    largest_class: int
    class_size_histogram: dict[str, int]  # class size (or "≥N") → number of classes
    max_risk: float  # 1 / smallest class
    average_risk: float  # mean over released records of 1 / class size = classes / released
    share_above: dict[str, float]  # threshold → share of released records whose risk exceeds it
    information_loss: float  # Iyengar's loss metric of the release, 0 (nothing lost) .. 1
    nodes_evaluated: int

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class KAnonResult:
    """Which records are released and how: `released[i]` is the generalised quasi-identifiers of
    record i (as `deidentify_patient` takes them), absent for suppressed records."""

    levels: tuple[int, ...]
    released: dict[int, dict[str, Any]]
    suppressed: frozenset[int]
    report: RiskReport


def _validate(quasi_identifiers: Sequence[str], k: int, max_suppression: float) -> None:
    problems = [
        Issue("error", "value", f"'{q}' is not a known quasi-identifier", "quasi_identifiers")
        for q in quasi_identifiers
        if q not in QUASI_IDENTIFIERS
    ]
    if len(set(quasi_identifiers)) != len(quasi_identifiers):
        problems.append(Issue("error", "value", "quasi-identifiers are listed twice", "quasi_identifiers"))
    if not 2 <= k <= 1000:
        problems.append(Issue("error", "value", "k must be between 2 and 1000", "k"))
    if not 0.0 <= max_suppression <= 0.5:
        problems.append(Issue("error", "value", "max_suppression must be within [0, 0.5]", "max_suppression"))
    if problems:
        raise InvalidInput(problems[0].diagnostics, issues=problems, code="deid.invalid_spec")


def _histogram(sizes: Sequence[int], k: int) -> dict[str, int]:
    cap = max(2 * k, 10)
    counts = Counter(str(s) if s < cap else f">={cap}" for s in sizes)
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0].lstrip(">="))))


def _report(
    sizes: list[int],
    records: int,
    suppressed: int,
    labels: dict[str, str],
    spec: tuple[int, float],
    quasi_identifiers: Sequence[str],
    nodes: int,
    loss: float,
) -> RiskReport:
    released = sum(sizes)
    share = {
        str(t): round(sum(s for s in sizes if 1 / s > t) / released, 6) if released else 0.0
        for t in RISK_THRESHOLDS
    }
    return RiskReport(
        k=spec[0],
        max_suppression=spec[1],
        quasi_identifiers=tuple(quasi_identifiers),
        generalisation=labels,
        records=records,
        released=released,
        suppressed=suppressed,
        classes=len(sizes),
        smallest_class=min(sizes, default=0),
        median_class=float(statistics.median(sizes)) if sizes else 0.0,
        largest_class=max(sizes, default=0),
        class_size_histogram=_histogram(sizes, spec[0]),
        max_risk=round(1 / min(sizes), 6) if sizes else 0.0,
        average_risk=round(len(sizes) / released, 6) if released else 0.0,
        share_above=share,
        information_loss=round(loss, 6),
        nodes_evaluated=nodes,
    )


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Per quasi-identifier and level: each record's generalised value as an integer code, and the
    loss of that value (the share of the attribute's observed domain it no longer tells apart)."""

    codes: list[list[list[int]]]
    losses: list[list[list[float]]]
    totals: list[list[float]]


def _encode(records: Sequence[QuasiValues], hierarchies: list[_Hierarchy], year: int) -> _Encoded:
    codes: list[list[list[int]]] = []
    losses: list[list[list[float]]] = []
    for h in hierarchies:
        per_level: list[list[int]] = []
        for level in range(len(h.levels)):
            interned: dict[Value, int] = {}
            per_level.append(
                [interned.setdefault(h.generalise(r, level, year)[0], len(interned)) for r in records]
            )
        leaves = per_level[0]
        domain = max(len(set(leaves)) - 1, 1)
        level_losses = []
        for level_codes in per_level:
            covered: dict[int, set[int]] = {}
            for code, leaf in zip(level_codes, leaves, strict=True):
                covered.setdefault(code, set()).add(leaf)
            level_losses.append([(len(covered[c]) - 1) / domain for c in level_codes])
        codes.append(per_level)
        losses.append(level_losses)
    return _Encoded(codes, losses, [[sum(v) for v in per_level] for per_level in losses])


def _information_loss(enc: _Encoded, node: tuple[int, ...], dropped: list[int], n: int) -> float:
    """Iyengar's loss metric: mean over records and quasi-identifiers; a suppressed record loses all."""
    if not node or n == 0:
        return len(dropped) / n if n else 0.0
    kept = sum(enc.totals[i][lv] - sum(enc.losses[i][lv][r] for r in dropped) for i, lv in enumerate(node))
    return (kept + len(dropped) * len(node)) / (n * len(node))


def anonymize(
    records: Sequence[QuasiValues],
    quasi_identifiers: Sequence[str],
    *,
    k: int,
    max_suppression: float,
    reference_year: int,
) -> KAnonResult:
    """Find the k-minimal generalisation of least information loss that makes the records k-anonymous.

    Args:
        records: the quasi-identifiers of each candidate patient.
        quasi_identifiers: the declared ones (keys of `QUASI_IDENTIFIERS`); only these are released.
        k: the smallest equivalence class allowed.
        max_suppression: the largest share of records that may be suppressed to reach k.
        reference_year: the year ages are computed in.
    """
    _validate(quasi_identifiers, k, max_suppression)
    hierarchies = [QUASI_IDENTIFIERS[q] for q in quasi_identifiers]
    heights = [len(h.levels) - 1 for h in hierarchies]
    enc = _encode(records, hierarchies, reference_year)
    budget = int(max_suppression * len(records))
    nodes = sorted(itertools.product(*(range(h + 1) for h in heights)), key=lambda n: (sum(n), n))
    feasible: list[tuple[int, ...]] = []
    best: _Choice | None = None
    evaluated = 0
    for node in nodes:
        if any(all(a >= b for a, b in zip(node, f, strict=True)) for f in feasible):
            continue  # generalises a feasible node: not k-minimal
        evaluated += 1
        columns = [enc.codes[i][lv] for i, lv in enumerate(node)]
        keys = list(zip(*columns, strict=True)) if node else [()] * len(records)
        sizes = Counter(keys)
        if sum(c for c in sizes.values() if c < k) > budget:
            continue
        feasible.append(node)
        dropped = [i for i, key in enumerate(keys) if sizes[key] < k]
        height = sum(lv / h for lv, h in zip(node, heights, strict=True)) / max(len(node), 1)
        choice = _Choice((_information_loss(enc, node, dropped, len(records)), height), node, dropped)
        if best is None or choice.score < best.score:
            best = choice
    return _result(
        records,
        quasi_identifiers,
        hierarchies,
        best,
        heights,
        (k, max_suppression),
        reference_year,
        evaluated,
    )


@dataclass(frozen=True, slots=True)
class _Choice:
    score: tuple[float, float]  # (information loss, normalised height)
    levels: tuple[int, ...]
    dropped: list[int]


def _result(
    records: Sequence[QuasiValues],
    quasi_identifiers: Sequence[str],
    hierarchies: list[_Hierarchy],
    best: _Choice | None,
    heights: list[int],
    spec: tuple[int, float],
    reference_year: int,
    evaluated: int,
) -> KAnonResult:
    if best is None:  # not even full generalisation reaches k within the budget: release nothing
        levels = tuple(heights)
        labels = level_labels(quasi_identifiers, levels)
        report = _report([], len(records), len(records), labels, spec, quasi_identifiers, evaluated, 1.0)
        return KAnonResult(levels, {}, frozenset(range(len(records))), report)
    levels = best.levels
    suppressed = frozenset(best.dropped)
    released: dict[int, dict[str, Any]] = {}
    keys: Counter[tuple[Value, ...]] = Counter()
    for i, r in enumerate(records):
        if i in suppressed:
            continue
        fragment: dict[str, Any] = {}
        key = []
        for h, lv in zip(hierarchies, levels, strict=True):
            value, part = h.generalise(r, lv, reference_year)
            key.append(value)
            fragment.update(part)
        released[i] = fragment
        keys[tuple(key)] += 1
    labels = level_labels(quasi_identifiers, levels)
    sizes = list(keys.values())
    report = _report(
        sizes, len(records), len(suppressed), labels, spec, quasi_identifiers, evaluated, best.score[0]
    )
    return KAnonResult(levels, released, suppressed, report)
