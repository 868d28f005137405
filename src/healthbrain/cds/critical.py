"""Critical (panic) laboratory values: a unit-aware, age- and sex-specific limit table as data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.units import convert, normalise_unit

__all__ = [
    "Analyte",
    "CriticalTable",
    "LabEvaluation",
    "LabResult",
    "Limit",
    "compile_critical_table",
    "evaluate_lab",
]


@dataclass(frozen=True, slots=True)
class Limit:
    """Critical limits (canonical unit) for the patients a row applies to; None = no limit that side."""

    low: float | None
    high: float | None
    source: str
    sex: str | None = None
    min_age_days: int | None = None
    max_age_days: int | None = None

    def applies(self, age_days: int | None, sex: str | None) -> bool:
        if self.sex is not None and sex != self.sex:
            return False
        if self.min_age_days is not None and (age_days is None or age_days < self.min_age_days):
            return False
        return not (self.max_age_days is not None and (age_days is None or age_days > self.max_age_days))


@dataclass(frozen=True, slots=True)
class Analyte:
    """One analyte: its LOINC codes, canonical unit, conversions, plausible range and limits."""

    id: str
    display: Mapping[str, str]
    loinc: tuple[str, ...]
    unit: str
    factors: Mapping[str, float]
    plausible: tuple[float, float]
    limits: tuple[Limit, ...]


@dataclass(frozen=True, slots=True)
class CriticalTable:
    """The compiled critical-value table, indexed by LOINC code."""

    version: str
    analytes: Mapping[str, Analyte]
    by_loinc: Mapping[str, Analyte]
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LabResult:
    """A numeric laboratory result and the patient facts the limits depend on."""

    loinc: tuple[str, ...]
    value: float | None
    unit: str | None
    age_days: int | None = None
    sex: str | None = None


@dataclass(frozen=True, slots=True)
class LabEvaluation:
    """The verdict on one result.

    `status` is normal | critical-low | critical-high | data-quality | not-covered; for data-quality
    results `problem` says why (unknown-unit, implausible-value, missing-value).
    """

    status: str
    analyte: Analyte | None = None
    value: float | None = None  # canonical unit
    limit: Limit | None = None
    problem: str | None = None

    @property
    def is_critical(self) -> bool:
        return self.status in ("critical-low", "critical-high")


def _limit(row: Mapping[str, Any]) -> Limit:
    return Limit(
        low=None if row.get("low") is None else float(row["low"]),
        high=None if row.get("high") is None else float(row["high"]),
        source=str(row["source"]),
        sex=row.get("sex"),
        min_age_days=row.get("min_age_days"),
        max_age_days=row.get("max_age_days"),
    )


def compile_critical_table(doc: Mapping[str, Any]) -> CriticalTable:
    """Build the table from the `critical_values` knowledge file (already validated)."""
    analytes: dict[str, Analyte] = {}
    by_loinc: dict[str, Analyte] = {}
    for row in doc["analytes"]:
        low, high = row["plausible"]
        analyte = Analyte(
            id=str(row["id"]),
            display=dict(row["display"]),
            loinc=tuple(row["loinc"]),
            unit=str(row["unit"]),
            factors={normalise_unit(u): float(f) for u, f in row["units"].items()},
            plausible=(float(low), float(high)),
            limits=tuple(_limit(limit) for limit in row["limits"]),
        )
        analytes[analyte.id] = analyte
        for code in analyte.loinc:
            by_loinc[code] = analyte
    return CriticalTable(str(doc["version"]), analytes, by_loinc, dict(doc["sources"]))


def evaluate_lab(table: CriticalTable, result: LabResult) -> LabEvaluation:
    """Classify one result: critical, normal, a data-quality problem, or not covered by the table.

    Implausible values and unknown units are data-quality problems and never critical values:
    alerting a clinician on a keying or unit error trains them to ignore alerts.
    """
    analyte = next((table.by_loinc[c] for c in result.loinc if c in table.by_loinc), None)
    if analyte is None:
        return LabEvaluation("not-covered")
    if result.value is None or not math.isfinite(result.value):
        return LabEvaluation("data-quality", analyte, problem="missing-value")
    value = convert(result.value, result.unit, analyte.factors)
    if value is None:
        return LabEvaluation("data-quality", analyte, problem="unknown-unit")
    low, high = analyte.plausible
    if not low <= value <= high:
        return LabEvaluation("data-quality", analyte, value, problem="implausible-value")
    limit = next((row for row in analyte.limits if row.applies(result.age_days, result.sex)), None)
    if limit is None:
        return LabEvaluation("normal", analyte, value)
    if limit.low is not None and value < limit.low:
        return LabEvaluation("critical-low", analyte, value, limit)
    if limit.high is not None and value > limit.high:
        return LabEvaluation("critical-high", analyte, value, limit)
    return LabEvaluation("normal", analyte, value, limit)
