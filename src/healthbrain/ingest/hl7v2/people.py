"""HL7 v2 names, addresses, phones and participants → FHIR HumanName, Address, ContactPoint, Reference.

Chinese names and addresses (written without spaces) also get a `text` in reading order.
See: HL7 v2.8 chapter 2A (XPN, XAD, XTN, XCN, XON, PL) and the HL7 v2-to-FHIR data type maps.
"""

from __future__ import annotations

import re
from typing import Any

from healthbrain.ingest.hl7v2.conventions import Conventions
from healthbrain.ingest.hl7v2.datatypes import fhir_date, hd_system, identifier_type, part
from healthbrain.ingest.hl7v2.message import Components

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
NAME_USE = {
    "L": "official",
    "D": "usual",
    "M": "maiden",
    "N": "nickname",
    "A": "usual",
    "S": "anonymous",
    "B": "official",
    "C": "official",
    "T": "temp",
    "R": "official",
    "U": None,
}
ADDRESS_USE = {"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old", "P": "home", "L": "home"}
ADDRESS_TYPE = {"M": "postal", "SH": "physical", "H": "both"}
PHONE_USE = {"PRN": "home", "ORN": "home", "VHN": "home", "WPN": "work", "EMR": "temp", "ASN": "temp"}
PHONE_SYSTEM = {
    "PH": "phone",
    "CP": "phone",
    "FX": "fax",
    "BP": "pager",
    "INTERNET": "email",
    "X.400": "email",
    "MD": "other",
    "TDD": "other",
    "TTY": "other",
    "SAT": "phone",
}


_EMPTY: tuple[Any, ...] = (None, "", [], {})  # never mutated: a tuple display would rebuild them


def _compact(obj: dict[str, Any]) -> dict[str, Any] | None:
    out = {k: v for k, v in obj.items() if v not in _EMPTY}
    return out or None


def _period(start: str, end: str) -> dict[str, Any] | None:
    return _compact({"start": fhir_date(start), "end": fhir_date(end)})


def human_name(comps: Components) -> dict[str, Any] | None:
    """XPN → HumanName (family from FN.1, given names, prefix/suffix, use from XPN.7)."""
    family = part(comps, 1, 1)
    given = [g for g in (part(comps, 2), part(comps, 3)) if g]
    if not family and not given:
        return None
    suffix = [s for s in (part(comps, 4), part(comps, 6), part(comps, 14)) if s]
    prefix = [p for p in (part(comps, 5),) if p]
    name: dict[str, Any] = {
        "use": NAME_USE.get(part(comps, 7).upper()),
        "family": family,
        "given": given,
        "prefix": prefix,
        "suffix": suffix,
        "period": _period(part(comps, 12), part(comps, 13)),
    }
    if _CJK.search(family + "".join(given)):
        name["text"] = family + "".join(given)
    return _compact(name)


def address(comps: Components) -> dict[str, Any] | None:
    """XAD → Address (street, other designation, city, state, postal code, country, district)."""
    lines = [x for x in (part(comps, 1, 1), part(comps, 1, 2), part(comps, 2), part(comps, 19)) if x]
    kind = part(comps, 7).upper()
    out: dict[str, Any] = {
        "use": ADDRESS_USE.get(kind),
        "type": ADDRESS_TYPE.get(kind),
        "line": lines,
        "city": part(comps, 3),
        "district": part(comps, 9),
        "state": part(comps, 4),
        "postalCode": part(comps, 5),
        "country": part(comps, 6),
        "period": _period(part(comps, 13), part(comps, 14)),
    }
    text = "".join(x for x in (out["state"], out["city"], out["district"], *lines) if x)
    if _CJK.search(text):
        out["text"] = text
    return _compact(out)


def contact_point(comps: Components, default_use: str | None = None) -> dict[str, Any] | None:
    """XTN → ContactPoint: the unformatted number (XTN.12), e-mail (XTN.4) or XTN.1."""
    equipment = part(comps, 3).upper()
    system = PHONE_SYSTEM.get(equipment, "phone" if not equipment else "other")
    number = part(comps, 12)
    if system == "email":
        value = part(comps, 4) or part(comps, 1)
    elif number:
        value = number
    elif part(comps, 7):
        value = " ".join(x for x in (part(comps, 5), part(comps, 6), part(comps, 7)) if x)
        if part(comps, 8):
            value += f" ext. {part(comps, 8)}"
    else:
        value = part(comps, 1)
    if not value:
        return None
    use = "mobile" if equipment == "CP" else PHONE_USE.get(part(comps, 2).upper(), default_use)
    rank = part(comps, 18)
    return _compact(
        {
            "system": system,
            "value": value,
            "use": use,
            "rank": int(rank) if rank.isdigit() and int(rank) > 0 else None,
            "period": _period(part(comps, 13), part(comps, 14)),
        }
    )


def person_display(comps: Components, family_at: int, given_at: int) -> str:
    family = part(comps, family_at, 1)
    given = " ".join(x for x in (part(comps, given_at), part(comps, given_at + 1)) if x)
    if _CJK.search(family + given):
        return family + given.replace(" ", "")
    prefix = part(comps, given_at + 3)
    suffix = part(comps, given_at + 2)
    return " ".join(x for x in (prefix, given, family, suffix) if x)


def practitioner_reference(
    comps: Components, conv: Conventions, authority: tuple[str, str, str]
) -> dict[str, Any] | None:
    """XCN (id^family^given^middle^suffix^prefix^...^assigning authority) → a logical Reference."""
    value = part(comps, 1)
    display = person_display(comps, 2, 3)
    if not value and not display:
        return None
    out: dict[str, Any] = {"type": "Practitioner"}
    if value:
        hd = (part(comps, 9, 1), part(comps, 9, 2), part(comps, 9, 3))
        ident: dict[str, Any] = {"value": value}
        system = hd_system(*hd, conv) if any(hd) else hd_system(*authority, conv)
        if system:
            ident["system"] = system
        kind = identifier_type(part(comps, 13))
        if kind:
            ident["type"] = kind
        out["identifier"] = ident
    if display:
        out["display"] = display
    return out


def organization_reference(
    comps: Components, conv: Conventions, authority: tuple[str, str, str]
) -> dict[str, Any] | None:
    """XON (name^type^id^...^assigning authority^...^organization identifier) → a logical Reference."""
    name = part(comps, 1)
    value = part(comps, 10) or part(comps, 3)
    if not name and not value:
        return None
    out: dict[str, Any] = {"type": "Organization"}
    if value:
        hd = (part(comps, 6, 1), part(comps, 6, 2), part(comps, 6, 3))
        system = hd_system(*hd, conv) if any(hd) else hd_system(*authority, conv)
        out["identifier"] = _compact({"system": system, "value": value})
    if name:
        out["display"] = name
    return out


def location_reference(comps: Components) -> dict[str, Any] | None:
    """PL (point of care^room^bed^facility^status^type^building^floor^description) → Reference display."""
    description = part(comps, 9)
    pieces = (
        part(comps, 4, 1),
        part(comps, 7),
        part(comps, 8),
        part(comps, 1, 1),
        part(comps, 2),
        part(comps, 3),
    )
    text = description or " ".join(x for x in pieces if x)
    return {"type": "Location", "display": text} if text else None


def coded_reference(
    comps: Components, conv: Conventions, facility: str, resource_type: str
) -> dict[str, Any] | None:
    """CWE (code^text^system) naming a thing (a manufacturer, a device) → a logical Reference."""
    code, text = part(comps, 1), part(comps, 2)
    if not code and not text:
        return None
    out: dict[str, Any] = {"type": resource_type}
    if code:
        system = conv.code_system(part(comps, 3), facility)
        out["identifier"] = _compact({"system": system, "value": code})
    if text:
        out["display"] = text
    return out
