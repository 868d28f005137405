"""Case definitions from laboratory results and vital signs: positive pathogen tests (by LOINC, from
`data/lab_tests.csv`) for notifiable diseases, and a measured body temperature of 38 °C or more for
the fever syndrome. Pure functions over FHIR Observations."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from healthbrain.surveillance.casedef import BY_KEY

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
BODY_TEMPERATURE = "8310-5"
FEVER_CELSIUS = 38.0  # WHO influenza-like-illness definition: measured fever of >= 38 °C
COUNTED_STATUSES = frozenset({"final", "amended", "corrected"})
# Qualitative answers: SNOMED CT Positive / Detected / Present and LOINC LA answers, and their opposites.
POSITIVE_CODES = frozenset({"10828004", "260373001", "52101004", "LA6576-8", "LA11882-0"})
NEGATIVE_CODES = frozenset({"260385009", "260415000", "2667000", "LA6577-6", "LA11883-8"})
POSITIVE_TEXT = frozenset({"positive", "pos", "detected", "reactive", "阳性", "阳性(+)", "检出", "+"})
NEGATIVE_TEXT = frozenset(
    {"negative", "neg", "not detected", "non-reactive", "阴性", "阴性(-)", "未检出", "-"}
)
POSITIVE_FLAGS = frozenset({"POS", "DET"})  # v3 ObservationInterpretation
NEGATIVE_FLAGS = frozenset({"NEG", "ND"})


@dataclass(frozen=True, slots=True)
class LabTest:
    """A pathogen test: its code, the disease a positive result points to, and whether the result
    alone is a case (else it only confirms a clinically diagnosed one)."""

    system: str
    code: str
    disease: str
    alone: bool
    display: str


def parse_lab_tests(text: str) -> dict[tuple[str, str], LabTest]:
    """The lab-test table from its CSV text (system, code, disease, alone, display).

    Raises:
        ValueError: a row names an unknown disease or an `alone` other than yes/no.
    """
    out: dict[tuple[str, str], LabTest] = {}
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        if row["disease"] not in BY_KEY or row["alone"] not in ("yes", "no"):
            raise ValueError(f"lab_tests.csv line {n}: unknown disease or alone flag")
        test = LabTest(row["system"], row["code"], row["disease"], row["alone"] == "yes", row["display"])
        out[(test.system, test.code)] = test
    return out


@cache
def lab_tests() -> Mapping[tuple[str, str], LabTest]:
    """The packaged lab-test table."""
    text = resources.files("healthbrain.surveillance").joinpath("data/lab_tests.csv").read_text("utf-8")
    return parse_lab_tests(text)


def _codings(concept: object) -> Iterable[dict[str, Any]]:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return [c for c in codings if isinstance(c, dict)]


def lab_test_of(observation: Mapping[str, Any], tests: Mapping[tuple[str, str], LabTest]) -> LabTest | None:
    """The pathogen test an Observation reports, if its code is one of `tests`."""
    for coding in _codings(observation.get("code")):
        test = tests.get((str(coding.get("system")), str(coding.get("code"))))
        if test is not None:
            return test
    return None


def is_positive(observation: Mapping[str, Any]) -> bool | None:
    """Whether a qualitative result is positive (True), negative (False) or unreadable (None).

    The value decides (coded answer, text, boolean); the interpretation flag only when no value is given.
    """
    codes = {str(c.get("code")) for c in _codings(observation.get("valueCodeableConcept"))}
    if codes & POSITIVE_CODES:
        return True
    if codes & NEGATIVE_CODES:
        return False
    text = observation.get("valueString")
    if isinstance(text, str):
        word = text.strip().lower()
        if word in POSITIVE_TEXT:
            return True
        if word in NEGATIVE_TEXT:
            return False
    if isinstance(observation.get("valueBoolean"), bool):
        return bool(observation["valueBoolean"])
    if any(k.startswith("value") for k in observation):
        return None
    flags = {str(c.get("code")) for i in observation.get("interpretation", []) for c in _codings(i)}
    if flags & POSITIVE_FLAGS:
        return True
    if flags & NEGATIVE_FLAGS:
        return False
    return None


def is_febrile(observation: Mapping[str, Any]) -> bool:
    """Whether an Observation is a body temperature of at least 38 °C (Celsius or Fahrenheit)."""
    if not any(c.get("system") == LOINC and c.get("code") == BODY_TEMPERATURE
               for c in _codings(observation.get("code"))):  # fmt: skip
        return False
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return False
    value = float(quantity["value"])
    unit = str(quantity.get("code") or quantity.get("unit") or "")
    if unit in ("[degF]", "°F", "degF"):
        value = (value - 32.0) * 5.0 / 9.0
    return value >= FEVER_CELSIUS


def is_temperature(observation: Mapping[str, Any]) -> bool:
    """Whether an Observation is coded as a body temperature."""
    return any(
        c.get("system") == LOINC and c.get("code") == BODY_TEMPERATURE
        for c in _codings(observation.get("code"))
    )


def is_counted(observation: Mapping[str, Any]) -> bool:
    """Whether a result's status lets it count (final, amended or corrected; not preliminary,
    cancelled or entered in error)."""
    return observation.get("status") in COUNTED_STATUSES
