"""Delta checks: a result compared with the same patient's earlier results of the same analyte."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DeltaFinding", "DeltaRule", "PriorResult", "compile_delta_rules", "evaluate_delta"]


@dataclass(frozen=True, slots=True)
class DeltaRule:
    """Fire when the change from the window's baseline reaches `relative` or `absolute`."""

    id: str
    analyte: str
    direction: str  # rise | fall
    baseline: str  # min | max | latest
    window_seconds: float
    relative: float | None
    absolute: float | None
    severity: str
    source: str
    message: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PriorResult:
    """An earlier result in the analyte's canonical unit at epoch seconds `at`."""

    value: float
    at: float


@dataclass(frozen=True, slots=True)
class DeltaFinding:
    """A fired delta rule with the baseline it compared against."""

    rule: DeltaRule
    baseline: float
    baseline_at: float
    value: float
    change: float  # signed, canonical unit
    relative_change: float | None


def compile_delta_rules(doc: Mapping[str, Any]) -> tuple[DeltaRule, ...]:
    """Build the rules from the `delta_checks` knowledge file."""
    return tuple(
        DeltaRule(
            id=str(r["id"]),
            analyte=str(r["analyte"]),
            direction=str(r["direction"]),
            baseline=str(r["baseline"]),
            window_seconds=float(r["window_hours"]) * 3600.0,
            relative=None if r.get("relative") is None else float(r["relative"]),
            absolute=None if r.get("absolute") is None else float(r["absolute"]),
            severity=str(r["severity"]),
            source=str(r["source"]),
            message=dict(r["message"]),
        )
        for r in doc["rules"]
    )


def _baseline(rule: DeltaRule, window: Sequence[PriorResult]) -> PriorResult:
    if rule.baseline == "min":
        return min(window, key=lambda p: p.value)
    if rule.baseline == "max":
        return max(window, key=lambda p: p.value)
    return max(window, key=lambda p: p.at)


def evaluate_delta(
    rules: Iterable[DeltaRule], analyte: str, value: float, at: float, history: Iterable[PriorResult]
) -> list[DeltaFinding]:
    """Every rule of `analyte` that fires for `value` at `at` given earlier results `history`.

    Only results strictly before `at` and inside each rule's window count, so a redelivered or
    back-dated result never compares with itself or with the future.
    """
    earlier = [p for p in history if p.at < at]
    found: list[DeltaFinding] = []
    for rule in rules:
        if rule.analyte != analyte:
            continue
        window = [p for p in earlier if at - p.at <= rule.window_seconds]
        if not window:
            continue
        base = _baseline(rule, window)
        change = value - base.value
        signed = change if rule.direction == "rise" else -change
        relative = signed / base.value if base.value > 0 else None
        hit_abs = rule.absolute is not None and signed >= rule.absolute
        hit_rel = rule.relative is not None and relative is not None and relative >= rule.relative
        if hit_abs or hit_rel:
            found.append(DeltaFinding(rule, base.value, base.at, value, change, relative))
    return found
