"""Early warning scores over a vital-sign set: NEWS2, qSOFA, MEWS and the Brighton PEWS.

The band tables and triggers are data (`knowledge/early_warning.json`); this module only knows
how each score combines its parameters. See the RCP NEWS2 report (2017), chart 1 and chart 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "EwsTables",
    "ScoreResult",
    "VitalSet",
    "band_points",
    "compile_ews_tables",
    "required_parameters",
    "score_mews",
    "score_news2",
    "score_pews",
    "score_qsofa",
    "score_vitals",
]

Bands = tuple[tuple[float | None, int], ...]


@dataclass(frozen=True, slots=True)
class VitalSet:
    """One set of observations taken together; None = not measured."""

    respiratory_rate: float | None = None
    spo2: float | None = None
    on_oxygen: bool | None = None
    oxygen_flow_lpm: float | None = None
    fio2_percent: float | None = None
    systolic_bp: float | None = None
    pulse: float | None = None
    consciousness: str | None = None  # ACVPU letter
    temperature: float | None = None
    capillary_refill_s: float | None = None
    gcs: int | None = None
    spo2_scale: int = 1  # 2 for confirmed hypercapnic respiratory failure (RCP NEWS2, SpO2 scale 2)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A computed score with its parts and the clinical response its trigger calls for."""

    score: str
    total: int
    components: tuple[tuple[str, int], ...]
    level: str
    priority: str | None  # critical | urgent | None (no alert)
    response: Mapping[str, str]
    source: str
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EwsTables:
    """The compiled score definitions."""

    version: str
    scores: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, str]
    observations: Mapping[str, Mapping[str, Any]]
    consciousness_codes: Mapping[str, str]  # normalised code or text -> ACVPU letter

    def bands(self, score: str, parameter: str) -> tuple[Bands, int]:
        spec = self.scores[score]["parameters"][parameter]
        bands = tuple((None if b[0] is None else float(b[0]), int(b[1])) for b in spec["bands"])
        return bands, int(spec["decimals"])


def compile_ews_tables(doc: Mapping[str, Any]) -> EwsTables:
    """Build the score tables from the `early_warning` knowledge file."""
    codes = {
        str(code).lower(): letter for letter, values in doc["consciousness_codes"].items() for code in values
    }
    return EwsTables(
        str(doc["version"]), dict(doc["scores"]), dict(doc["sources"]), dict(doc["observations"]), codes
    )


def _round(value: float, decimals: int) -> Decimal:
    # Charts are read at the recorded precision; half-up, as a nurse rounds 37.45 to 37.5.
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def band_points(bands: Bands, value: float, decimals: int) -> int:
    """Points for `value` in a table of (upper bound inclusive, points) rows; None closes it."""
    rounded = _round(value, decimals)
    for upper, points in bands:
        if upper is None or rounded <= _round(upper, decimals):
            return points
    raise ValueError("band table is not closed by a null upper bound")


def _trigger(spec: Mapping[str, Any], total: int, components: Sequence[tuple[str, int]]) -> Mapping[str, Any]:
    worst = max((points for _, points in components), default=0)
    triggers: list[Mapping[str, Any]] = list(spec["triggers"])
    for trig in triggers:
        if "single_parameter" in trig and worst >= int(trig["single_parameter"]):
            return trig
        if "min_total" in trig and total >= int(trig["min_total"]):
            return trig
    return triggers[-1]


def _result(
    tables: EwsTables, score: str, components: list[tuple[str, int]], assumptions: list[str]
) -> ScoreResult:
    spec = tables.scores[score]
    total = sum(points for _, points in components)
    trig = _trigger(spec, total, components)
    return ScoreResult(
        score,
        total,
        tuple(components),
        str(trig["level"]),
        trig.get("priority"),
        dict(trig["response"]),
        str(spec["source"]),
        tuple(assumptions),
    )


def _consciousness(vs: VitalSet, assumptions: list[str]) -> str | None:
    if vs.consciousness is not None:
        return vs.consciousness
    if vs.gcs is not None:
        assumptions.append("consciousness-from-gcs")
        return "A" if vs.gcs >= 15 else "C"
    return None


def _oxygen(vs: VitalSet, assume_air: bool, assumptions: list[str]) -> bool | None:
    if vs.on_oxygen is not None:
        return vs.on_oxygen
    if (vs.oxygen_flow_lpm or 0) > 0 or (vs.fio2_percent or 21) > 21:
        return True
    if assume_air:
        assumptions.append("room-air-assumed")
        return False
    return None


def score_news2(tables: EwsTables, vs: VitalSet, *, assume_air: bool = True) -> ScoreResult | None:
    """NEWS2 (RCP 2017), or None while a parameter is missing."""
    assumptions: list[str] = []
    level = _consciousness(vs, assumptions)
    oxygen = _oxygen(vs, assume_air, assumptions)
    values = (vs.respiratory_rate, vs.spo2, vs.systolic_bp, vs.pulse, vs.temperature)
    if level is None or oxygen is None or any(v is None for v in values):
        return None
    assert vs.respiratory_rate is not None and vs.spo2 is not None and vs.systolic_bp is not None
    assert vs.pulse is not None and vs.temperature is not None
    spec = tables.scores["news2"]
    if vs.spo2_scale == 2:
        spo2_table = "spo2_scale2_oxygen" if oxygen else "spo2_scale2_air"
    else:
        spo2_table = "spo2_scale1"
    parts: list[tuple[str, int]] = []
    for name, table, value in (
        ("respiratory_rate", "respiratory_rate", vs.respiratory_rate),
        ("spo2", spo2_table, vs.spo2),
        ("air_or_oxygen", None, None),
        ("systolic_bp", "systolic_bp", vs.systolic_bp),
        ("pulse", "pulse", vs.pulse),
        ("consciousness", None, None),
        ("temperature", "temperature", vs.temperature),
    ):
        if name == "air_or_oxygen":
            parts.append((name, int(spec["oxygen_points"]["oxygen" if oxygen else "air"])))
        elif name == "consciousness":
            parts.append((name, int(spec["consciousness_points"][level])))
        else:
            assert table is not None and value is not None
            bands, decimals = tables.bands("news2", table)
            parts.append((name, band_points(bands, value, decimals)))
    return _result(tables, "news2", parts, assumptions)


def score_qsofa(tables: EwsTables, vs: VitalSet) -> ScoreResult | None:
    """qSOFA (Sepsis-3): one point each for RR >= 22, altered mentation, SBP <= 100."""
    assumptions: list[str] = []
    if vs.respiratory_rate is None or vs.systolic_bp is None:
        return None
    if vs.consciousness is None and vs.gcs is None:
        return None
    spec = tables.scores["qsofa"]
    altered = (vs.gcs is not None and vs.gcs < 15) or (vs.consciousness not in (None, "A"))
    parts = [
        ("respiratory_rate", int(round(vs.respiratory_rate) >= int(spec["respiratory_rate_min"]))),
        ("altered_mentation", int(altered)),
        ("systolic_bp", int(round(vs.systolic_bp) <= int(spec["systolic_bp_max"]))),
    ]
    return _result(tables, "qsofa", parts, assumptions)


def score_mews(tables: EwsTables, vs: VitalSet) -> ScoreResult | None:
    """MEWS (Subbe 2001): SBP, pulse, RR, temperature and AVPU."""
    values = (vs.systolic_bp, vs.pulse, vs.respiratory_rate, vs.temperature)
    if vs.consciousness is None or any(v is None for v in values):
        return None
    spec = tables.scores["mews"]
    parts: list[tuple[str, int]] = []
    for name, value in zip(("systolic_bp", "pulse", "respiratory_rate", "temperature"), values, strict=True):
        assert value is not None
        bands, decimals = tables.bands("mews", name)
        parts.append((name, band_points(bands, value, decimals)))
    parts.append(("consciousness", int(spec["consciousness_points"][vs.consciousness])))
    return _result(tables, "mews", parts, [])


def _normal_range(spec: Mapping[str, Any], age_years: float) -> Mapping[str, Any]:
    for row in spec["normal_ranges"]:
        if age_years < float(row["max_age_years"]):
            return dict(row)
    return dict(spec["normal_ranges"][-1])


def _at_least(thresholds: Sequence[Sequence[float]], value: float | None, strict: bool = False) -> int:
    points = 0
    if value is None:
        return 0
    for threshold, pts in thresholds:
        if value > threshold if strict else value >= threshold:
            points = max(points, int(pts))
    return points


def score_pews(tables: EwsTables, vs: VitalSet, age_years: float) -> ScoreResult | None:
    """Brighton PEWS (Monaghan 2005): behaviour, cardiovascular and respiratory, 0-3 each.

    Heart and breathing rates are judged against APLS normal ranges for age. Behaviour is read from
    ACVPU: alert = playing/appropriate (0), voice = sleeping (1), confusion/pain/unresponsive (3).
    """
    level = vs.consciousness
    if level is None or vs.pulse is None or vs.respiratory_rate is None:
        return None
    spec = tables.scores["pews"]
    normal = _normal_range(spec, age_years)
    hr_low, hr_high = normal["pulse"]
    rr_low, rr_high = normal["respiratory_rate"]
    cv = spec["cardiovascular"]
    cardio = _at_least(cv["tachycardia_above_normal"], vs.pulse - hr_high)
    if vs.pulse < hr_low:
        cardio = max(cardio, int(cv["bradycardia_points"]))
    if vs.capillary_refill_s is not None:
        bands = tuple(
            (None if b[0] is None else float(b[0]), int(b[1])) for b in cv["capillary_refill_bands"]
        )
        cardio = max(cardio, band_points(bands, vs.capillary_refill_s, 0))
    rs = spec["respiratory"]
    resp = _at_least(rs["above_normal"], vs.respiratory_rate - rr_high, strict=True)
    if vs.respiratory_rate <= rr_low - float(rs["below_normal_by"]):
        resp = max(resp, int(rs["below_normal_points"]))
    resp = max(resp, _at_least(rs["oxygen_flow_lpm"], vs.oxygen_flow_lpm))
    resp = max(resp, _at_least(rs["fio2_percent"], vs.fio2_percent))
    behaviour = int(spec["behaviour_points"][level])
    parts = [("behaviour", behaviour), ("cardiovascular", min(cardio, 3)), ("respiratory", min(resp, 3))]
    return _result(tables, "pews", parts, [])


def required_parameters(score: str) -> tuple[str, ...]:
    """The vital signs a score cannot be computed without (oxygen may be assumed for NEWS2)."""
    return {
        "news2": ("respiratory_rate", "spo2", "systolic_bp", "pulse", "consciousness", "temperature"),
        "qsofa": ("respiratory_rate", "systolic_bp", "consciousness"),
        "mews": ("systolic_bp", "pulse", "respiratory_rate", "temperature", "consciousness"),
        "pews": ("pulse", "respiratory_rate", "consciousness"),
    }[score]


def score_vitals(
    tables: EwsTables,
    vs: VitalSet,
    age_years: float | None,
    *,
    pregnant: bool = False,
    assume_air: bool = True,
) -> list[ScoreResult]:
    """Every score that applies to the patient's age and can be computed from the set.

    NEWS2 is not used in pregnancy or under 16 (RCP 2017); qSOFA only for adults; PEWS for children.
    """
    if age_years is None:
        return []
    results: list[ScoreResult | None] = []
    if age_years >= float(tables.scores["news2"]["min_age_years"]) and not pregnant:
        results.append(score_news2(tables, vs, assume_air=assume_air))
    if age_years >= float(tables.scores["mews"]["min_age_years"]):
        results.append(score_mews(tables, vs))
    if age_years >= float(tables.scores["qsofa"]["min_age_years"]):
        results.append(score_qsofa(tables, vs))
    if age_years < float(tables.scores["pews"]["max_age_years"]):
        results.append(score_pews(tables, vs, age_years))
    return [r for r in results if r is not None]
