"""Results mutual recognition (检查检验结果互认), the pure part: the catalogue of recognisable tests and
the choice, for an order, of a prior result that can be reused instead of repeating the test."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from healthbrain.core.errors import InvalidInput
from healthbrain.quality.elements import first_moment, parse_moment, subject_reference

LOINC = "http://loinc.org"
ORDER_STATUSES = frozenset({"draft", "active", "on-hold"})
ORDER_INTENTS = frozenset({"proposal", "plan", "directive", "order", "original-order", "reflex-order",
                           "filler-order", "instance-order"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class RecognisedTest:
    key: str
    name: str
    klass: str
    window_days: int
    order_codes: frozenset[str]
    result_codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class RecognitionCatalog:
    """Tests that may be reused, their windows, and which institutions' results count."""

    tests: tuple[RecognisedTest, ...]
    institution_type_system: str
    recognised_types: frozenset[str]
    recognised_organizations: frozenset[str]
    include_same_institution: bool
    result_statuses: frozenset[str]
    by_order_code: Mapping[str, RecognisedTest]

    def test_for(self, code: str) -> RecognisedTest | None:
        return self.by_order_code.get(code)

    def recognises(self, organization: dict[str, Any] | None, org_id: str) -> bool:
        """Whether results of this Organization are recognised region-wide."""
        if org_id in self.recognised_organizations:
            return True
        if organization is None:
            return False
        for concept in organization.get("type") or ():
            for c in (concept or {}).get("coding") or ():
                if c.get("system") == self.institution_type_system and c.get("code") in self.recognised_types:
                    return True
        return False


@dataclass(frozen=True, slots=True)
class PriorResult:
    """A result that might be reused: what test, when taken and issued, by whom."""

    ref: str
    test: str
    code: str
    taken: datetime
    available: datetime  # when it was issued (or taken, when no issue time is given)
    institution: str | None
    status: str


@dataclass(frozen=True, slots=True)
class Order:
    """An order for tests: for whom, from which institution, when, which LOINC codes."""

    ref: str
    patient: str
    institution: str | None
    ordered: datetime
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recognised:
    """A prior result the order can reuse."""

    order: str
    test: RecognisedTest
    result: PriorResult
    same_institution: bool

    def to_json(self, ordered: datetime) -> dict[str, Any]:
        return {
            "order": self.order,
            "test": self.test.key,
            "testName": self.test.name,
            "windowDays": self.test.window_days,
            "result": self.result.ref,
            "code": self.result.code,
            "taken": self.result.taken.isoformat(),
            "daysBefore": round((ordered - self.result.taken).total_seconds() / 86400, 1),
            "institution": self.result.institution,
            "sameInstitution": self.same_institution,
        }


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"recognition catalogue: {message}", code="quality.bad_recognition")


def compile_recognition(doc: Any) -> RecognitionCatalog:
    """Check and compile a parsed recognition document."""
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise _bad("the document must be a mapping with version: 1")
    tests = []
    for spec in doc.get("tests") or ():
        try:
            orders = frozenset(map(str, spec["order_codes"]))
            results = frozenset(map(str, spec.get("result_codes") or orders))
            name, klass = str(spec.get("name", spec["key"])), str(spec.get("class", ""))
            test = RecognisedTest(str(spec["key"]), name, klass, int(spec["window_days"]), orders, results)
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad("each test needs key, window_days and order_codes") from exc
        if test.window_days < 0:
            raise _bad(f"test {test.key}: window_days must not be negative")
        tests.append(test)
    by_code: dict[str, RecognisedTest] = {}
    for test in tests:
        for code in test.order_codes:
            if code in by_code:
                raise _bad(f"order code {code} belongs to two tests")
            by_code[code] = test
    return RecognitionCatalog(
        tuple(tests),
        str(doc.get("institution_type_system", "")),
        frozenset(map(str, doc.get("recognised_institution_types") or ())),
        frozenset(map(str, doc.get("recognised_organizations") or ())),
        bool(doc.get("include_same_institution", True)),
        frozenset(map(str, doc.get("result_statuses") or ("final", "amended", "corrected"))),
        MappingProxyType(by_code),
    )


def load_recognition(path: Path | None = None) -> RecognitionCatalog:
    """The catalogue from `path`, or the one shipped with HealthBrain."""
    if path is None:
        return default_recognition()
    try:
        return compile_recognition(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise _bad(f"cannot read {path.name}") from exc


@cache
def default_recognition() -> RecognitionCatalog:
    """The shipped catalogue (parsed once per process)."""
    text = resources.files("healthbrain.quality").joinpath("data/recognition.yaml").read_text("utf-8")
    return compile_recognition(yaml.safe_load(text))


def loinc_codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c["code"]) for c in concept.get("coding") or ()
            if isinstance(c, dict) and c.get("system") == LOINC and c.get("code")]  # fmt: skip


def order_of(resource: dict[str, Any], institution: str | None, fallback: datetime) -> Order | None:
    """The Order a ServiceRequest places (None when it is not a live order for a patient)."""
    if resource.get("resourceType") != "ServiceRequest":
        return None
    if resource.get("status") not in ORDER_STATUSES or resource.get("intent") not in ORDER_INTENTS:
        return None
    patient = subject_reference(resource)
    codes = tuple(loinc_codes(resource.get("code")))
    if not patient or not codes:
        return None
    when = first_moment(resource, ("authoredOn", "occurrence[x]"))
    ordered = when.start if when is not None else fallback
    return Order(f"ServiceRequest/{resource.get('id')}", patient, institution, ordered, codes)


def result_of(
    resource: dict[str, Any], catalog: RecognitionCatalog, institution: str | None
) -> PriorResult | None:
    """The PriorResult of a DiagnosticReport or Observation whose code a recognised test accepts."""
    rt = resource.get("resourceType")
    if rt not in ("DiagnosticReport", "Observation"):
        return None
    for code in loinc_codes(resource.get("code")):
        test = next((t for t in catalog.tests if code in t.result_codes), None)
        taken = first_moment(resource, ("effective[x]",))
        if test is None or taken is None:
            continue
        issued = parse_moment(str(resource.get("issued", "")))
        available = issued.start if issued is not None else taken.start
        status = str(resource.get("status", ""))
        ref = f"{rt}/{resource.get('id')}"
        return PriorResult(ref, test.key, code, taken.start, available, institution, status)
    return None


def find_reusable(
    order: Order,
    results: Iterable[PriorResult],
    catalog: RecognitionCatalog,
    recognised: Callable[[str], bool],
) -> list[Recognised]:
    """For each recognised test of the order, the most recent reusable prior result.

    A result is reusable when it is final (or amended/corrected), was available before the order,
    was taken within the test's window before the order, and comes from the ordering institution
    (when allowed) or from an institution whose results are recognised.
    """
    pool = [r for r in results if r.status in catalog.result_statuses and r.available <= order.ordered]
    out: list[Recognised] = []
    seen: set[str] = set()
    for code in order.codes:
        test = catalog.test_for(code)
        if test is None or test.key in seen:
            continue
        seen.add(test.key)
        since = order.ordered - timedelta(days=test.window_days)
        best: Recognised | None = None
        for r in pool:
            if r.test != test.key or r.taken < since or r.ref == order.ref:
                continue
            same = r.institution is not None and r.institution == order.institution
            if same:
                acceptable = catalog.include_same_institution
            else:
                acceptable = r.institution is not None and recognised(r.institution)
            if not acceptable:
                continue
            if best is None or r.taken > best.result.taken:
                best = Recognised(order.ref, test, r, same)
        if best is not None:
            out.append(best)
    return out
