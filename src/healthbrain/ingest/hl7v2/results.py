"""Result values: OBX-5 by its OBX-2 value type, quantities with units, reference ranges, documents.

See: HL7 v2.8 chapter 7.4.2 (OBX) and the HL7 v2-to-FHIR OBX[Observation] map.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from healthbrain.ingest.hl7v2.conventions import Conventions
from healthbrain.ingest.hl7v2.datatypes import (
    codeable_concept,
    decimal_value,
    fhir_datetime,
    fhir_time,
    heads,
    part,
)
from healthbrain.ingest.hl7v2.message import Components

UCUM = "http://unitsofmeasure.org"
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|to|~|–|_)\s*(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_BOUND = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(-?\d+(?:\.\d+)?)\s*$")
_COMPARATORS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">="}
CODED = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID", "CV"})
TEXT = frozenset({"ST", "TX", "FT", "TN", "SI"})
NO_VALUE = frozenset({"ED", "RP"})  # carried as DocumentReference content, not Observation values


def unit(comps: Components | None) -> dict[str, Any]:
    """CWE units → Quantity unit/system/code (UCUM codes only when the sender says they are UCUM)."""
    if not comps:
        return {}
    code, text, system = heads(comps, 3)
    out: dict[str, Any] = {}
    if code or text:
        out["unit"] = text or code
    if code and system.upper() == "UCUM":
        out["system"], out["code"] = UCUM, code
    return out


def quantity(number: str, units: Components | None) -> dict[str, Any] | None:
    value = decimal_value(number)
    if value is None:
        return None
    return {"value": value, **unit(units)}


def reference_range(text: str, units: Components | None) -> dict[str, Any] | None:
    """OBX-7 ("3.5-5.0", "4.3 to 6.2", "<5", ">=10") → referenceRange with low/high and the text."""
    text = text.strip()
    if not text:
        return None
    out: dict[str, Any] = {}
    m = _RANGE.match(text)
    if m:
        u = unit(units)  # a flat mapping of strings: each bound gets its own copy
        out["low"] = {"value": decimal_value(m.group(1)), **u}
        out["high"] = {"value": decimal_value(m.group(2)), **u}
    else:
        b = _BOUND.match(text)
        if b:
            side = "high" if b.group(1) in ("<", "<=", "≤") else "low"
            out[side] = {"value": decimal_value(b.group(2)), **unit(units)}
    out["text"] = text
    return out


def structured_numeric(comps: Components, units: Components | None) -> dict[str, Any] | None:
    """SN (comparator^num1^separator^num2) → valueQuantity, valueRange or valueRatio."""
    comparator, first, separator, second = part(comps, 1), part(comps, 2), part(comps, 3), part(comps, 4)
    if separator in ("-", "+") and first and second:
        return {"valueRange": {"low": quantity(first, units), "high": quantity(second, units)}}
    if separator in (":", "/") and first and second:
        return {"valueRatio": {"numerator": quantity(first, None), "denominator": quantity(second, None)}}
    q = quantity(first, units)
    if q is None:
        return None
    if comparator in _COMPARATORS:
        q["comparator"] = _COMPARATORS[comparator]
    elif comparator not in ("", "="):
        raise ValueError("not a valid structured numeric comparator")
    return {"valueQuantity": q}


def _one_value(
    kind: str, comps: Components, units: Components | None, conv: Conventions, facility: str
) -> dict[str, Any] | None:
    raw = part(comps, 1)
    if kind == "NM":
        q = quantity(raw, units)
        return {"valueQuantity": q} if q else None
    if kind == "SN":
        return structured_numeric(comps, units)
    if kind in CODED:
        cc = codeable_concept(comps, conv, facility)
        return {"valueCodeableConcept": cc} if cc else None
    if kind in ("DT", "DTM", "TS"):
        value = fhir_datetime(raw, conv.default_timezone)
        return {"valueDateTime": value} if value else None
    if kind == "TM":
        value = fhir_time(raw)
        return {"valueTime": value} if value else None
    if kind in NO_VALUE:
        return None
    text = (
        raw if kind in TEXT else " ".join(part(comps, i) for i in range(1, len(comps) + 1) if part(comps, i))
    )
    return {"valueString": text} if text else None


def observation_value(
    kind: str, reps: list[Components], units: Components | None, conv: Conventions, facility: str
) -> dict[str, Any] | None:
    """OBX-2/OBX-5/OBX-6 → the Observation's value[x]; repeated values become components.

    Text types (ST, TX, FT) join their repetitions into one string, line by line.
    """
    kind = kind.strip().upper() or "ST"
    # A repetition carries a value when any (sub)component does; most do in their first one.
    values = [r for r in reps if (r and r[0] and r[0][0].strip()) or any(x.strip() for sub in r for x in sub)]
    if not values:
        return None
    if kind in TEXT:
        text = "\n".join(part(r, 1) for r in values if part(r, 1))
        return {"valueString": text} if text else None
    if len(values) == 1:
        return _one_value(kind, values[0], units, conv, facility)
    parts = [_one_value(kind, r, units, conv, facility) for r in values]
    return {"component": [p for p in parts if p]}


def attachment(kind: str, comps: Components, created: str | None) -> dict[str, Any] | None:
    """ED (source^type^subtype^encoding^data) or RP (pointer^application^type^subtype) → Attachment."""
    kind = kind.strip().upper()
    out: dict[str, Any] = {}
    if kind == "RP":
        url, media, subtype = part(comps, 1), part(comps, 3), part(comps, 4)
        if url:
            out["url"] = url
    else:
        media, subtype = part(comps, 2), part(comps, 3)
        encoding, data = part(comps, 4).upper(), part(comps, 5)
        if data:
            out["data"] = _base64(encoding, data)
    if media:
        out["contentType"] = f"{media.lower()}/{subtype.lower()}" if subtype else media.lower()
    elif "data" in out:
        out["contentType"] = "application/octet-stream"
    if not out:
        return None
    if created:
        out["creation"] = created
    return out


def _base64(encoding: str, data: str) -> str:
    try:
        if encoding in ("BASE64", "B64"):
            return base64.b64encode(base64.b64decode(data, validate=True)).decode("ascii")
        if encoding == "HEX":
            return base64.b64encode(bytes.fromhex(data)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the {encoding.lower()} data does not decode") from exc
    if encoding in ("A", ""):
        return base64.b64encode(data.encode("utf-8")).decode("ascii")
    raise ValueError("unknown encoding (use Base64, Hex or A)")


def text_attachment(lines: list[str], created: str | None) -> dict[str, Any] | None:
    """Text OBX segments (TX/FT/ST), one line each, → one text/plain attachment (UTF-8)."""
    text = "\n".join(lines).strip()
    if not text:
        return None
    out: dict[str, Any] = {
        "contentType": "text/plain; charset=utf-8",
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }
    if created:
        out["creation"] = created
    return out
