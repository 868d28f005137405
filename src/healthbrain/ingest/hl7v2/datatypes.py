"""HL7 v2 primitive and coded data types → FHIR: DTM/DT/TM, NM, CWE/CE/CNE/IS/ID, CX, EI, HD.

Converters are pure; a value that breaks its data type raises ValueError (the engine reports it as
error 102 at the field it came from). Empty input gives None.
See: HL7 v2.8 chapter 2A (data types) and the HL7 v2-to-FHIR data type maps.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from healthbrain.ingest.hl7v2.conventions import V2_TABLE, Conventions
from healthbrain.ingest.hl7v2.message import Components

V2_0203 = V2_TABLE + "0203"
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def part(comps: Components, c: int, s: int = 1) -> str:
    """Component c, subcomponent s (1-based), stripped; '' when absent."""
    if c > len(comps):
        return ""
    sub = comps[c - 1]
    return sub[s - 1].strip() if s <= len(sub) else ""


def heads(comps: Components, n: int) -> list[str]:
    """`[part(comps, 1), ..., part(comps, n)]` in one pass: the first subcomponent of each component."""
    out = [sub[0].strip() if sub else "" for sub in comps[:n]]
    if len(out) < n:
        out += [""] * (n - len(out))
    return out


def whole(comps: Components, c: int) -> str:
    """Component c with its subcomponents joined by a space (for text-like components)."""
    if c > len(comps):
        return ""
    return " ".join(x.strip() for x in comps[c - 1] if x.strip())


# ---- dates and numbers --------------------------------------------------------------------------
def _parts(text: str) -> tuple[list[str | None], str | None]:
    m = _DTM.match(text.strip())
    if m is None:
        raise ValueError("not a valid date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])")
    groups = m.groups()
    year, month, day, hour, minute, second, _fraction, offset = groups
    try:
        dt.datetime(
            int(year) or 1,
            (int(month) or 1) if month else 1,
            (int(day) or 1) if day else 1,
            int(hour) if hour else 0,
            int(minute) if minute else 0,
            min(int(second), 59) if second else 0,
        )
    except ValueError as exc:
        raise ValueError("not a valid date/time (a field is out of range)") from exc
    if offset is not None and (int(offset[1:3]) > 14 or int(offset[3:5]) > 59):
        raise ValueError("not a valid date/time (bad UTC offset)")
    return list(groups[:7]), offset


def fhir_date(text: str) -> str | None:
    """DT or DTM → FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), as sent in the sender's own day."""
    if not text.strip():
        return None
    (year, month, day, *_), _offset = _parts(text)
    return "-".join(x for x in (year, month, day) if x)


def fhir_datetime(text: str, default_tz: str) -> str | None:
    """DTM → FHIR dateTime: dates keep their precision; a time gets seconds and a UTC offset."""
    if not text.strip():
        return None
    (year, month, day, hour, minute, second, fraction), offset = _parts(text)
    if hour is None:
        return "-".join(x for x in (year, month, day) if x)
    tz = f"{offset[:3]}:{offset[3:]}" if offset else default_tz
    tz = "Z" if tz in ("+00:00", "-00:00") else tz
    return f"{year}-{month}-{day}T{hour}:{minute or '00'}:{second or '00'}{fraction or ''}{tz}"


def fhir_instant(text: str, default_tz: str) -> str | None:
    """DTM → FHIR instant; None when the value is less precise than a minute."""
    value = fhir_datetime(text, default_tz)
    return value if value is not None and "T" in value else None


def fhir_time(text: str) -> str | None:
    """TM (HH[MM[SS[.S]]]) → FHIR time HH:MM:SS."""
    text = text.strip().split("+")[0].split("-")[0]
    if not text:
        return None
    m = re.match(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?$", text)
    if m is None or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59 or int(m.group(3) or 0) > 59:
        raise ValueError("not a valid time (HH[MM[SS]])")
    return f"{m.group(1)}:{m.group(2) or '00'}:{m.group(3) or '00'}{m.group(4) or ''}"


def decimal_value(text: str) -> int | float | None:
    """NM → a JSON number (integers stay integers); ValueError when it is not a number."""
    text = text.strip()
    if not text:
        return None
    if not _NUMBER.match(text):
        raise ValueError("not a number")
    if text.isascii():  # the same as below: float() and int() parse such text exactly as Decimal
        return float(text) if "." in text else int(text)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError("not a number") from exc
    if number == number.to_integral_value() and "." not in text:
        return int(number)
    return float(number)


def integer_value(text: str) -> int | None:
    number = decimal_value(text)
    if number is None:
        return None
    if not isinstance(number, int):
        raise ValueError("not a whole number")
    return number


# ---- coded values ------------------------------------------------------------------------------
def coding(
    code: str, display: str, system_name: str, conv: Conventions, facility: str, default_system: str | None
) -> dict[str, Any] | None:
    if not code and not display:
        return None
    out: dict[str, Any] = {}
    system = conv.code_system(system_name, facility) if system_name else default_system
    if system:
        out["system"] = system
    if code:
        out["code"] = code
    if display:
        out["display"] = display
    return out if code else None


def codeable_concept(
    comps: Components, conv: Conventions, facility: str, default_system: str | None = None
) -> dict[str, Any] | None:
    """CWE/CE/CNE (or a bare IS/ID code) → CodeableConcept with the alternate coding and text."""
    code, display, system, alt_code, alt_display, alt_system, _, _, text = heads(comps, 9)
    codings = []
    first = coding(code, display, system, conv, facility, default_system) if code else None
    if first:
        codings.append(first)
    alternate = coding(alt_code, alt_display, alt_system, conv, facility, None) if alt_code else None
    if alternate and alternate != first:
        codings.append(alternate)
    text = text or ("" if codings else display)
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    if text:
        out["text"] = text
    return out or None


# ---- identifiers ------------------------------------------------------------------------------
def hd_system(namespace: str, universal_id: str, universal_type: str, conv: Conventions) -> str | None:
    return conv.identifier_system(namespace, universal_id, universal_type)


def identifier_type(code: str) -> dict[str, Any] | None:
    return {"coding": [{"system": V2_0203, "code": code}]} if code else None


def cx_identifier(
    comps: Components,
    conv: Conventions,
    authority: tuple[str, str, str] = ("", "", ""),
    default_type: str = "",
    default_tz: str = "+08:00",
) -> dict[str, Any] | None:
    """CX → Identifier: system from CX.4 (else `authority`, the sender's HD), type from CX.5."""
    value = part(comps, 1)
    if not value:
        return None
    type_code = part(comps, 5) or default_type
    hd = (part(comps, 4, 1), part(comps, 4, 2), part(comps, 4, 3))
    system = conv.identifier_types.get(type_code.upper()) if type_code else None
    if system is None:
        system = hd_system(*hd, conv) if any(hd) else hd_system(*authority, conv)
    out: dict[str, Any] = {"value": value}
    if system:
        out["system"] = system
    kind = identifier_type(type_code)
    if kind:
        out["type"] = kind
    period = {
        k: v
        for k, v in (("start", fhir_date(part(comps, 7))), ("end", fhir_date(part(comps, 8))))
        if v is not None
    }
    if period:
        out["period"] = period
    return out


def ei_identifier(
    comps: Components, conv: Conventions, authority: tuple[str, str, str] = ("", "", ""), type_code: str = ""
) -> dict[str, Any] | None:
    """EI (id^namespace^universal id^type) → Identifier; the sender's HD when EI.2-4 are empty."""
    value, namespace, universal_id, universal_type = heads(comps, 4)
    if not value:
        return None
    if namespace or universal_id or universal_type:
        system = conv.identifier_system(namespace, universal_id, universal_type)
    else:
        system = conv.identifier_system(*authority)
    out: dict[str, Any] = {"value": value}
    if system:
        out["system"] = system
    kind = identifier_type(type_code)
    if kind:
        out["type"] = kind
    return out


def hd_of(comps: Components) -> tuple[str, str, str]:
    """An HD field (namespace^universal id^type) as a tuple."""
    namespace, universal_id, universal_type = heads(comps, 3)
    return namespace, universal_id, universal_type
