"""The 360° record of a resident: every institution's records merged into one view, each fact keeping the
institution it came from. Pure functions over the FHIR resources the API returned to the user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fact", "LabSeries", "Record360", "build_record", "mask_id", "patient_name"]

LAB = "laboratory"
VITAL = "vital-signs"


def patient_name(patient: Mapping[str, Any]) -> str:
    for name in patient.get("name") or ():
        if isinstance(name, dict):
            text = name.get("text") or (str(name.get("family") or "") + "".join(name.get("given") or ()))
            if text:
                return str(text)
    return str(patient.get("id") or "")


def mask_id(value: str | None) -> str:
    """An ID number with its middle hidden (330802********5425): enough to tell records apart."""
    if not value:
        return ""
    return value if len(value) < 10 else value[:6] + "*" * (len(value) - 10) + value[-4:]


def _text(concept: Mapping[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or ():
        if isinstance(c, dict) and (c.get("display") or c.get("code")):
            return str(c.get("display") or c.get("code"))
    return ""


def _code(concept: Mapping[str, Any] | None) -> str:
    for c in (concept or {}).get("coding") or ():
        if isinstance(c, dict) and c.get("code"):
            return str(c["code"])
    return ""


def _ref_id(ref: Any, rtype: str) -> str | None:
    value = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(value, str) and value.startswith(f"{rtype}/"):
        return value.split("/", 1)[1]
    return None


def _when(res: Mapping[str, Any]) -> str:
    for key in (
        "effectiveDateTime",
        "authoredOn",
        "onsetDateTime",
        "recordedDate",
        "occurrenceDateTime",
        "issued",
    ):
        if res.get(key):
            return str(res[key])
    period = res.get("period") or res.get("effectivePeriod") or {}
    return str(period.get("start") or (res.get("meta") or {}).get("lastUpdated") or "")


def _categories(res: Mapping[str, Any]) -> set[str]:
    return {
        str(c.get("code"))
        for cat in res.get("category") or ()
        for c in (cat.get("coding") or ())
        if isinstance(c, dict)
    }


@dataclass(frozen=True, slots=True)
class Fact:
    """One line of the record: what, when, details, and the institution that recorded it."""

    kind: str
    when: str
    title: str
    detail: str
    institution: str
    flag: str = ""  # H / L / HH / LL / A ..., or a status worth showing


@dataclass(slots=True)
class LabSeries:
    """All results of one test across institutions, with its reference range."""

    code: str
    name: str
    unit: str
    points: list[tuple[str, float, str, str]] = field(default_factory=list)  # when, value, institution, flag
    low: float | None = None
    high: float | None = None

    @property
    def latest(self) -> tuple[str, float, str, str] | None:
        return self.points[-1] if self.points else None


@dataclass(slots=True)
class Record360:
    """The merged record."""

    name: str
    gender: str
    birth_date: str
    id_number: str
    records: list[dict[str, str]]  # one per institution's Patient record: id, institution, mrn
    encounters: list[Fact]
    conditions: list[Fact]
    medications: list[Fact]
    allergies: list[Fact]
    risks: list[Fact]
    vitals: list[Fact]
    labs: list[LabSeries]


def _identifier(patient: Mapping[str, Any], code: str) -> str:
    for ident in patient.get("identifier") or ():
        codes = {
            c.get("code") for c in ((ident.get("type") or {}).get("coding") or ()) if isinstance(c, dict)
        }
        if code in codes and ident.get("value"):
            return str(ident["value"])
    return ""


def _flag(res: Mapping[str, Any]) -> str:
    for concept in res.get("interpretation") or ():
        code = _code(concept)
        if code and code != "N":
            return code
    return ""


def _quantity(res: Mapping[str, Any]) -> tuple[float | None, str]:
    q = res.get("valueQuantity") or {}
    value = q.get("value")
    return (float(value) if isinstance(value, int | float) else None), str(
        q.get("unit") or q.get("code") or ""
    )


def _observation_text(res: Mapping[str, Any]) -> str:
    value, unit = _quantity(res)
    if value is not None:
        return f"{value:g} {unit}".strip()
    parts = []
    for comp in res.get("component") or ():
        v, u = _quantity(comp)
        if v is not None:
            parts.append(f"{v:g}")
            unit = u
    if parts:
        return "/".join(parts) + (f" {unit}" if parts else "")
    return _text(res.get("valueCodeableConcept")) or str(res.get("valueString") or "")


def _add_lab(labs: dict[str, LabSeries], res: Mapping[str, Any], institution: str) -> None:
    value, unit = _quantity(res)
    if value is None:
        return
    code = _code(res.get("code"))
    series = labs.setdefault(code, LabSeries(code, _text(res.get("code")) or code, unit))
    series.points.append((_when(res), value, institution, _flag(res)))
    for rng in res.get("referenceRange") or ():
        low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
        series.low = float(low) if isinstance(low, int | float) else series.low
        series.high = float(high) if isinstance(high, int | float) else series.high


def _fact(res: Mapping[str, Any], institution: str, kind: str) -> Fact | None:
    rt = res.get("resourceType")
    if rt == "Encounter":
        detail = " · ".join(
            x
            for x in (_text(res.get("serviceType")), "、".join(_text(r) for r in res.get("reasonCode") or ()))
            if x
        )
        klass = res.get("class") or {}
        return Fact(
            kind,
            _when(res),
            str(klass.get("code") or klass.get("display") or ""),
            detail,
            institution,
            str(res.get("status") or ""),
        )
    if rt == "Condition":
        status = _code(res.get("clinicalStatus"))
        return Fact(kind, _when(res), _text(res.get("code")), _code(res.get("code")), institution, status)
    if rt == "MedicationRequest":
        dosage = "; ".join(str(d.get("text")) for d in res.get("dosageInstruction") or () if d.get("text"))
        return Fact(
            kind,
            _when(res),
            _text(res.get("medicationCodeableConcept")),
            dosage,
            institution,
            str(res.get("status") or ""),
        )
    if rt == "AllergyIntolerance":
        reactions = "、".join(
            _text(m) for r in res.get("reaction") or () for m in r.get("manifestation") or ()
        )
        return Fact(
            kind,
            _when(res),
            _text(res.get("code")),
            reactions,
            institution,
            str(res.get("criticality") or ""),
        )
    if rt == "RiskAssessment":
        out = []
        for p in res.get("prediction") or ():
            prob = p.get("probabilityDecimal")
            risk = _text(p.get("qualitativeRisk"))
            out.append(
                " ".join(
                    x
                    for x in (
                        _text(p.get("outcome")),
                        f"{prob:.0%}" if isinstance(prob, int | float) else "",
                        risk,
                    )
                    if x
                )
            )
        return Fact(
            kind,
            _when(res),
            _text(res.get("code")) or _text(res.get("method")),
            "; ".join(out),
            institution,
            "",
        )
    if rt == "Observation":
        return Fact(kind, _when(res), _text(res.get("code")), _observation_text(res), institution, _flag(res))
    return None


def build_record(
    patients: Sequence[Mapping[str, Any]],
    everything: Mapping[str, Iterable[Mapping[str, Any]]],
    org_names: Mapping[str, str],
) -> Record360:
    """Merge each Patient record's resources ($everything) into one record, newest first."""

    def org_of(ref: Any) -> str:
        oid = _ref_id(ref, "Organization")
        return org_names.get(oid, oid) if oid else ""

    main = patients[0]
    records: list[dict[str, str]] = []
    by_kind: dict[str, list[Fact]] = {k: [] for k in ("enc", "cond", "med", "allergy", "risk", "vital")}
    labs: dict[str, LabSeries] = {}
    kinds = {
        "Encounter": "enc",
        "Condition": "cond",
        "MedicationRequest": "med",
        "AllergyIntolerance": "allergy",
        "RiskAssessment": "risk",
    }
    for patient in patients:
        home = org_of(patient.get("managingOrganization"))
        records.append({"id": str(patient["id"]), "institution": home, "mrn": _identifier(patient, "MR")})
        for res in everything.get(str(patient["id"]), ()):
            rt = str(res.get("resourceType"))
            where = org_of(res.get("serviceProvider")) if rt == "Encounter" else home
            where = where or home
            if rt == "Observation" and LAB in _categories(res):
                _add_lab(labs, res, where)
                continue
            kind = "vital" if rt == "Observation" and VITAL in _categories(res) else kinds.get(rt)
            fact = _fact(res, where, kind) if kind else None
            if fact is not None and kind is not None:
                by_kind[kind].append(fact)
    for facts in by_kind.values():
        facts.sort(key=lambda f: f.when, reverse=True)
    for series in labs.values():
        series.points.sort()
    return Record360(
        name=patient_name(main),
        gender=str(main.get("gender") or ""),
        birth_date=str(main.get("birthDate") or ""),
        id_number=mask_id(_identifier(main, "NI")),
        records=records,
        encounters=by_kind["enc"],
        conditions=by_kind["cond"],
        medications=by_kind["med"],
        allergies=by_kind["allergy"],
        risks=by_kind["risk"],
        vitals=by_kind["vital"][:30],
        labs=sorted(labs.values(), key=lambda s: s.name),
    )
