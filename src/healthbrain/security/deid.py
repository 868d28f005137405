"""De-identification of FHIR resources: pseudonymous ids, date shifting, suppression, generalisation.

Pure functions over FHIR JSON. `deidentify_resource` removes direct identifiers (names, 身份证 and
every other identifier, phones, addresses, photos, contacts) and free text (narrative, notes,
comments, free-text strings, reference displays, extensions), replaces every id and reference by a
keyed pseudonym (HMAC-SHA256 under a dedicated key: stable for one key and domain, unlinkable
without it), and shifts every date of a patient's data by the same per-patient offset, so that
intervals within a record survive. The Patient itself keeps only its quasi-identifiers, generalised
to the levels the k-anonymity search chose (`healthbrain.security.deid_kanon`).

See: ISO/TS 25237 (pseudonymisation), GB/T 37964-2019 (个人信息去标识化指南), HIPAA Safe Harbor
§164.514(b)(2) for the list of direct identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

__all__ = [
    "AGE_BAND_URL",
    "ID_AREA_URL",
    "ID_CARD_SYSTEM",
    "Pseudonymizer",
    "QuasiValues",
    "deidentify_patient",
    "deidentify_resource",
    "id_card_number",
    "patient_of",
    "quasi_values",
    "shift_date",
]

ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.1"  # 居民身份证号码 (GB 11643)
AGE_BAND_URL = "https://healthbrain.dev/fhir/StructureDefinition/age-band"
ID_AREA_URL = "https://healthbrain.dev/fhir/StructureDefinition/id-card-area"
DEID_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "PSEUDED"}

# Removed wherever they appear: identifiers, contact data and free text.
_DIRECT = frozenset(
    {
        "identifier",
        "telecom",
        "address",
        "photo",
        "contact",
        "communication",
        "link",
        "extension",
        "modifierExtension",
        "contained",
        "note",
        "comment",
        "patientInstruction",
        "description",
        "summary",
        "conclusion",
        "presentedForm",
        "valueString",
        "valueAttachment",
        "content",
        "signature",
        "div",
        "implicitRules",
        "language",
    }
)
# Resource types whose `name` names a person.
_PERSONS = frozenset({"Patient", "Practitioner", "RelatedPerson", "Person"})
_ID_CARD_RE = re.compile(r"^\d{17}[\dX]$")
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?P<time>T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
# Keys whose year-only or year-month values are dates too (full dates are recognised anywhere).
_DATE_KEYS = re.compile(r"(date|Date|DateTime|Instant|start|end|issued|recorded|authoredOn|Period)$")


@dataclass(frozen=True, slots=True)
class Pseudonymizer:
    """Keyed pseudonyms and per-patient date offsets.

    `key` is a dedicated secret (see `deid_export.derive_key`); `max_shift_days` bounds the date
    shift, which is never zero.
    """

    key: bytes
    max_shift_days: int = 180

    def _mac(self, label: str, value: str) -> bytes:
        return hmac.new(self.key, f"{label}\x1f{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, resource_type: str, rid: str) -> str:
        """A stable 32-character id for `resource_type/rid` (valid as a FHIR id)."""
        return self._mac("id", f"{resource_type}/{rid}")[:16].hex()

    def shift_days(self, patient_id: str) -> int:
        """The patient's date offset in days, within ±max_shift_days and never 0."""
        if self.max_shift_days < 1:
            return 0
        span = self.max_shift_days
        draw = int.from_bytes(self._mac("shift", patient_id)[:8], "big") % (2 * span)
        return draw - span if draw < span else draw - span + 1


def shift_date(value: str, days: int, *, partial: bool) -> str | None:
    """`value` moved by `days`, at the same precision; None when it is not a FHIR date.

    Year and year-month values (`partial`) are shifted through the middle of their period, so that
    a shift of a few days leaves them unchanged more often than not.
    """
    m = _DATE_RE.match(value)
    if m is None or (m.group("d") is None and not partial):
        return None
    year, month, day = int(m.group("y")), m.group("m"), m.group("d")
    try:
        if day is None:
            anchor = date(year, int(month or 7), 15 if month else 2)
            moved = anchor + timedelta(days=days)
            return f"{moved.year:04d}-{moved.month:02d}" if month else f"{moved.year:04d}"
        if m.group("time") is None:
            moved = date(year, int(month), int(day)) + timedelta(days=days)
            return moved.isoformat()
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        shifted = (parsed + timedelta(days=days)).isoformat()
        return shifted.replace("+00:00", "Z") if value.endswith("Z") else shifted
    except ValueError:
        return None


def _reference(value: str, pseudo: Pseudonymizer) -> str | None:
    if value.startswith("#"):
        return value
    parts = value.split("/")
    if len(parts) == 2 and parts[0][:1].isupper():
        return f"{parts[0]}/{pseudo.pseudonym(parts[0], parts[1])}"
    return None  # absolute URLs, canonical-like or malformed references: dropped


def _clean(node: Any, key: str, pseudo: Pseudonymizer, days: int) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in _DIRECT:
                continue
            if k == "text" and (not isinstance(v, str) or "coding" not in node):
                continue  # narrative, or free text outside a coded concept
            if k == "display" and "code" not in node:
                continue  # a reference's display may name a person; a coding's is its term
            if k == "reference" and isinstance(v, str):
                ref = _reference(v, pseudo)
                if ref is not None:
                    out[k] = ref
                continue
            cleaned = _clean(v, k, pseudo, days)
            if cleaned not in (None, {}, []):
                out[k] = cleaned
        return out
    if isinstance(node, list):
        return [c for c in (_clean(v, key, pseudo, days) for v in node) if c not in (None, {}, [])]
    if isinstance(node, str) and days:
        shifted = shift_date(node, days, partial=bool(_DATE_KEYS.search(key)))
        return node if shifted is None else shifted
    return node


def _meta(resource: dict[str, Any]) -> dict[str, Any]:
    labels = [
        {k: v for k, v in c.items() if k in ("system", "code")}
        for c in (resource.get("meta") or {}).get("security") or []
        if isinstance(c, dict)
    ]
    return {"security": [*labels, DEID_TAG]}


def deidentify_resource(
    resource: dict[str, Any], patient_id: str | None, pseudo: Pseudonymizer
) -> dict[str, Any]:
    """A de-identified copy of a clinical resource of the patient `patient_id` (not a Patient).

    Args:
        resource: the FHIR resource as stored.
        patient_id: the (real) id of the patient it belongs to; its offset shifts every date.
        pseudo: the pseudonymiser of the export.
    """
    rt = str(resource["resourceType"])
    days = pseudo.shift_days(patient_id) if patient_id else 0
    body = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    if rt in _PERSONS:
        body.pop("name", None)
    cleaned = _clean(body, "", pseudo, days)
    return {
        "resourceType": rt,
        "id": pseudo.pseudonym(rt, str(resource["id"])),
        "meta": _meta(resource),
        **cleaned,
    }


# ---- the Patient: quasi-identifiers only ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuasiValues:
    """The most precise values of a patient's quasi-identifiers the export may release.

    `region` is (province, city, county) from the home address; `id_area` the 6-digit
    administrative division code of the 身份证 (GB/T 2260), where the record has a valid one.
    """

    birth_year: int | None
    gender: str | None
    region: tuple[str, str, str] | None
    id_area: str | None


def id_card_number(patient: dict[str, Any]) -> str | None:
    """The patient's 居民身份证 number, recognised by its system or its NI type."""
    for ident in patient.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding") or [] if isinstance(c, dict)}
        value = str(ident.get("value") or "").upper()
        if (ident.get("system") == ID_CARD_SYSTEM or "NI" in codes) and _ID_CARD_RE.match(value):
            return value
    return None


def _home_region(patient: dict[str, Any]) -> tuple[str, str, str] | None:
    addresses = [a for a in patient.get("address") or [] if isinstance(a, dict)]
    home = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else None)
    if home is None:
        return None
    parts = (str(home.get("state") or ""), str(home.get("city") or ""), str(home.get("district") or ""))
    return parts if any(parts) else None


def quasi_values(patient: dict[str, Any]) -> QuasiValues:
    """Extract the quasi-identifiers of a Patient (birth year, gender, home county, 身份证 area)."""
    birth = _DATE_RE.match(str(patient.get("birthDate") or ""))
    number = id_card_number(patient)
    gender = patient.get("gender")
    return QuasiValues(
        birth_year=int(birth.group("y")) if birth else None,
        gender=gender if isinstance(gender, str) else None,
        region=_home_region(patient),
        id_area=number[:6] if number else None,
    )


def deidentify_patient(
    patient: dict[str, Any], released: dict[str, Any], pseudo: Pseudonymizer
) -> dict[str, Any]:
    """The de-identified Patient: a pseudonymous id, its generalised quasi-identifiers, nothing else.

    Args:
        patient: the Patient as stored.
        released: the generalised values chosen by the k-anonymity search, by quasi-identifier:
            `birth_year` (int) or `age_band` ((low, high) in years), `gender`, `region` (a tuple of
            1-3 parts: province, city, county) and `id_area` (a prefix of the area code); a value
            left out (or None) is suppressed.
        pseudo: the pseudonymiser of the export.
    """
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pseudo.pseudonym("Patient", str(patient["id"])),
        "meta": _meta(patient),
    }
    extensions: list[dict[str, Any]] = []
    if released.get("gender"):
        out["gender"] = released["gender"]
    if released.get("birth_year"):
        out["birthDate"] = f"{int(released['birth_year']):04d}"
    elif released.get("age_band"):
        low, high = released["age_band"]
        extensions.append(
            {
                "url": AGE_BAND_URL,
                "valueRange": {
                    "low": {"value": low, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
                    "high": {"value": high, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
                },
            }
        )
    region = released.get("region")
    if region:
        names = ("state", "city", "district")
        out["address"] = [{"use": "home", **dict(zip(names, region, strict=False)), "country": "CN"}]
    if released.get("id_area"):
        extensions.append({"url": ID_AREA_URL, "valueString": str(released["id_area"])})
    if patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        out["deceasedBoolean"] = True
    if extensions:
        out["extension"] = extensions
    return out


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a clinical resource belongs to (subject, patient or beneficiary)."""
    for key in ("subject", "patient", "beneficiary"):
        ref = resource.get(key)
        if isinstance(ref, dict):
            value = str(ref.get("reference") or "")
            if value.startswith("Patient/"):
                return value.split("/", 1)[1]
    return None
