"""The matching view of a FHIR Patient: who the record says the person is, and where it comes from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# 居民身份证号码 (GB 11643) as a FHIR identifier system, and the v2-0203 type codes that mark it.
ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.1"
_ID_TYPE_CODES = frozenset({"NI", "NNCHN", "CZ"})


@dataclass(frozen=True, slots=True)
class AddressInput:
    """An address as received: free text and whatever structured parts were filled in."""

    text: str = ""
    province: str = ""
    city: str = ""
    district: str = ""


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One institution's record of a person, reduced to what identifies them."""

    ref: str  # Patient/<id>
    source: str = ""  # the managing organisation
    name: str = ""
    family: str = ""
    gender: str = ""
    birth_date: str = ""  # FHIR date, possibly partial (YYYY or YYYY-MM)
    id_number: str = ""
    phones: tuple[str, ...] = ()
    address: AddressInput = AddressInput()
    version: int = 0


def _is_id_card(identifier: Mapping[str, Any]) -> bool:
    if identifier.get("system") == ID_CARD_SYSTEM:
        return True
    kind = identifier.get("type") or {}
    codes = {c.get("code") for c in kind.get("coding", []) if isinstance(c, Mapping)}
    return bool(codes & _ID_TYPE_CODES) or "身份证" in str(kind.get("text", ""))


def _name(resource: Mapping[str, Any]) -> tuple[str, str]:
    names = [n for n in resource.get("name", []) if isinstance(n, Mapping)]
    if not names:
        return "", ""
    chosen = next((n for n in names if n.get("use") == "official"), names[0])
    family = str(chosen.get("family", "") or "")
    given = [str(g) for g in chosen.get("given", []) if g]
    text = str(chosen.get("text", "") or "")
    if not text:
        latin = any(ch.isascii() and ch.isalpha() for ch in family + "".join(given))
        text = f"{family} {' '.join(given)}".strip() if latin else family + "".join(given)
    return text, family


def _address(resource: Mapping[str, Any]) -> AddressInput:
    addresses = [a for a in resource.get("address", []) if isinstance(a, Mapping)]
    if not addresses:
        return AddressInput()
    chosen = next((a for a in addresses if a.get("use") == "home"), addresses[0])
    lines = "".join(str(x) for x in chosen.get("line", []) if x)
    text = str(chosen.get("text", "") or "") or lines
    return AddressInput(
        text, str(chosen.get("state", "") or ""), str(chosen.get("city", "") or ""),
        str(chosen.get("district", "") or ""),
    )  # fmt: skip


def patient_record(resource: Mapping[str, Any], version: int = 0) -> PatientRecord:
    """The PatientRecord of a FHIR R4 Patient resource (missing parts stay empty)."""
    ids = [i for i in resource.get("identifier", []) if isinstance(i, Mapping) and i.get("value")]
    id_number = next((str(i["value"]) for i in ids if _is_id_card(i)), "")
    phones = tuple(
        str(t["value"])
        for t in resource.get("telecom", [])
        if isinstance(t, Mapping) and t.get("system") in ("phone", "sms") and t.get("value")
    )
    org = resource.get("managingOrganization") or {}
    name, family = _name(resource)
    return PatientRecord(
        ref=f"Patient/{resource.get('id', '')}",
        source=str(org.get("reference", "")).removeprefix("Organization/"),
        name=name,
        family=family,
        gender=str(resource.get("gender", "") or ""),
        birth_date=str(resource.get("birthDate", "") or ""),
        id_number=id_number,
        phones=phones[:3],
        address=_address(resource),
        version=version,
    )


def record_to_json(record: PatientRecord) -> dict[str, Any]:
    """A JSON-ready dict of a PatientRecord (kept with its link for matching later arrivals)."""
    a = record.address
    return {
        "ref": record.ref, "source": record.source, "name": record.name, "family": record.family,
        "gender": record.gender, "birthDate": record.birth_date, "idNumber": record.id_number,
        "phones": list(record.phones), "version": record.version,
        "address": {"text": a.text, "province": a.province, "city": a.city, "district": a.district},
    }  # fmt: skip


def record_from_json(doc: Mapping[str, Any]) -> PatientRecord:
    a = doc.get("address") or {}
    return PatientRecord(
        ref=str(doc["ref"]), source=str(doc.get("source", "")), name=str(doc.get("name", "")),
        family=str(doc.get("family", "")), gender=str(doc.get("gender", "")),
        birth_date=str(doc.get("birthDate", "")), id_number=str(doc.get("idNumber", "")),
        phones=tuple(str(p) for p in doc.get("phones", ())), version=int(doc.get("version", 0)),
        address=AddressInput(
            str(a.get("text", "")), str(a.get("province", "")), str(a.get("city", "")),
            str(a.get("district", "")),
        ),
    )  # fmt: skip
