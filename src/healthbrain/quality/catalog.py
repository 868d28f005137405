"""The rule catalogue: the shipped YAML (or an operator's copy) checked and compiled into a RuleSet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from healthbrain.core.errors import InvalidInput
from healthbrain.quality.model import DIMENSIONS, SEVERITIES

RULES_FILE = "rules.yaml"


@dataclass(frozen=True, slots=True)
class QuantityRule:
    """Allowed units of a LOINC-coded quantity (each with its factor to the first one) and its
    impossible (hard) and implausible (soft) limits in the first unit."""

    code: str
    name: str
    units: Mapping[str, float]
    hard: tuple[float, float]
    soft: tuple[float, float]


@dataclass(frozen=True, slots=True)
class CodeRange:
    """An ICD-10 range `first-last` (inclusive, compared on the code's leading characters)."""

    first: str
    last: str

    def contains(self, code: str) -> bool:
        head = code.replace(".", "")[: len(self.first.replace(".", ""))]
        return self.first.replace(".", "") <= head <= self.last.replace(".", "")


@dataclass(frozen=True, slots=True)
class AgeRule:
    ranges: tuple[CodeRange, ...]
    min_years: int
    max_years: int


@dataclass(frozen=True, slots=True)
class Completeness:
    required: tuple[str, ...]
    expected: tuple[str, ...]
    recommended: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.required) + len(self.expected) + len(self.recommended)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule parameter, compiled; the pure checks read nothing else."""

    severities: Mapping[str, str]
    titles: Mapping[str, str]
    weights: Mapping[str, float]
    monitored_types: frozenset[str]
    completeness: Mapping[str, Completeness]
    id_card_systems: frozenset[str]
    id_card_types: frozenset[str]
    code_systems: Mapping[str, str]
    unit_aliases: Mapping[str, str]
    quantities: Mapping[str, QuantityRule]
    bp_systolic: str
    bp_diastolic: str
    female_only: tuple[CodeRange, ...]
    male_only: tuple[CodeRange, ...]
    age_rules: tuple[AgeRule, ...]
    event_time: Mapping[str, tuple[str, ...]]
    timeliness_hours: Mapping[str, float]
    date_tolerance_minutes: float
    earliest_date: date
    date_elements: Mapping[str, tuple[str, ...]]
    identifier_types: frozenset[str]
    patient_demographics: bool

    def severity(self, rule: str) -> str:
        return self.severities[rule]

    def target_hours(self, resource_type: str) -> float:
        return self.timeliness_hours.get(resource_type, self.timeliness_hours["default"])


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"quality rules: {message}", code="quality.bad_rules")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{where} must be a list of strings")
    return tuple(value)


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)):
        raise _bad(f"{where} must be [low, high]")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise _bad(f"{where}: low is above high")
    return low, high


def _ranges(values: tuple[str, ...]) -> tuple[CodeRange, ...]:
    out = []
    for item in values:
        first, _, last = item.partition("-")
        out.append(CodeRange(first.strip(), (last or first).strip()))
    return tuple(out)


def _rules(doc: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    rules = doc.get("rules")
    if not isinstance(rules, dict) or not rules:
        raise _bad("'rules' must map rule codes to their severity")
    severities, titles = {}, {}
    for code, spec in rules.items():
        if not isinstance(spec, dict) or spec.get("severity") not in SEVERITIES:
            raise _bad(f"rule {code} needs severity hard or soft")
        if str(code).split(".", 1)[0] not in DIMENSIONS:
            raise _bad(f"rule {code} must start with a dimension")
        severities[str(code)] = str(spec["severity"])
        titles[str(code)] = str(spec.get("title") or code)
    return severities, titles


def _quantities(doc: Mapping[str, Any]) -> dict[str, QuantityRule]:
    out = {}
    for code, spec in (doc.get("quantities") or {}).items():
        if not isinstance(spec, dict):
            raise _bad(f"quantity {code} must be a mapping")
        raw = spec.get("units")
        if isinstance(raw, dict):
            if not all(isinstance(f, int | float) and f > 0 for f in raw.values()):
                raise _bad(f"quantities.{code}.units: factors must be positive numbers")
            units = MappingProxyType({str(u): float(f) for u, f in raw.items()})
        else:
            units = MappingProxyType({u: 1.0 for u in _strings(raw, f"quantities.{code}.units")})
        if not units:
            raise _bad(f"quantity {code} needs units")
        hard = _pair(spec.get("hard"), f"quantities.{code}.hard")
        soft = _pair(spec.get("soft"), f"quantities.{code}.soft")
        out[str(code)] = QuantityRule(str(code), str(spec.get("name", code)), units, hard, soft)
    return out


def _completeness(doc: Mapping[str, Any]) -> dict[str, Completeness]:
    out = {}
    for rt, spec in (doc.get("completeness") or {}).items():
        if not isinstance(spec, dict):
            raise _bad(f"completeness.{rt} must be a mapping")
        out[str(rt)] = Completeness(
            _strings(spec.get("required"), f"completeness.{rt}.required"),
            _strings(spec.get("expected"), f"completeness.{rt}.expected"),
            _strings(spec.get("recommended"), f"completeness.{rt}.recommended"),
        )
    return out


def _timing(doc: Mapping[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, float]]:
    spec = doc.get("event_time") or {}
    events = {str(rt): _strings(paths, f"event_time.{rt}") for rt, paths in spec.items()}
    hours = {str(k): float(v) for k, v in (doc.get("timeliness_hours") or {}).items()}
    hours.setdefault("default", 24.0)
    return events, hours


def compile_rules(doc: Any) -> RuleSet:
    """Check a parsed rule document and compile it; every problem raises `InvalidInput`."""
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise _bad("the document must be a mapping with version: 1")
    severities, titles = _rules(doc)
    weights = {str(k): float(v) for k, v in (doc.get("weights") or {}).items()}
    if set(weights) - set(DIMENSIONS) or not weights or any(w < 0 for w in weights.values()):
        raise _bad("weights must be non-negative and name dimensions only")
    id_card = doc.get("id_card") or {}
    bp = doc.get("blood_pressure") or {}
    sex = doc.get("sex_specific_diagnoses") or {}
    dates = doc.get("dates") or {}
    unique = doc.get("uniqueness") or {}
    events, hours = _timing(doc)
    ages = tuple(
        AgeRule(_ranges(_strings(a.get("codes"), "age_specific_diagnoses")), int(a["min"]), int(a["max"]))
        for a in doc.get("age_specific_diagnoses") or ()
    )
    try:
        earliest = date.fromisoformat(str(dates.get("earliest", "1890-01-01")))
    except ValueError as exc:
        raise _bad("dates.earliest must be an ISO date") from exc
    freeze = MappingProxyType
    return RuleSet(
        severities=freeze(severities),
        titles=freeze(titles),
        weights=freeze(weights),
        monitored_types=frozenset(_strings(doc.get("monitored_types"), "monitored_types")),
        completeness=freeze(_completeness(doc)),
        id_card_systems=frozenset(_strings(id_card.get("systems"), "id_card.systems")),
        id_card_types=frozenset(_strings(id_card.get("types"), "id_card.types")),
        code_systems=freeze({str(k): str(v) for k, v in (doc.get("code_systems") or {}).items()}),
        unit_aliases=freeze({str(k): str(v) for k, v in (doc.get("unit_aliases") or {}).items()}),
        quantities=freeze(_quantities(doc)),
        bp_systolic=str(bp.get("systolic", "")),
        bp_diastolic=str(bp.get("diastolic", "")),
        female_only=_ranges(_strings(sex.get("female"), "sex_specific_diagnoses.female")),
        male_only=_ranges(_strings(sex.get("male"), "sex_specific_diagnoses.male")),
        age_rules=ages,
        event_time=freeze(events),
        timeliness_hours=freeze(hours),
        date_tolerance_minutes=float(dates.get("tolerance_minutes", 10)),
        earliest_date=earliest,
        date_elements=freeze(
            {str(rt): _strings(p, f"dates.elements.{rt}") for rt, p in (dates.get("elements") or {}).items()}
        ),
        identifier_types=frozenset(_strings(unique.get("identifier_types"), "uniqueness.identifier_types")),
        patient_demographics=bool(unique.get("patient_demographics", True)),
    )


def load_rules(path: Path | None = None) -> RuleSet:
    """The rule set from `path`, or the one shipped with HealthBrain."""
    if path is None:
        return default_rules()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _bad(f"cannot read {path.name}") from exc
    return compile_rules(doc)


@cache
def default_rules() -> RuleSet:
    """The shipped rule set (parsed once per process)."""
    text = resources.files("healthbrain.quality").joinpath(f"data/{RULES_FILE}").read_text(encoding="utf-8")
    return compile_rules(yaml.safe_load(text))
