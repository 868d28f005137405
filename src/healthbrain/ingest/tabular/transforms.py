"""Cell transforms of tabular exports: Chinese dates and times, numbers, units (UCUM), 身份证, ranges.

Each transform takes what a cell holds (text from CSV; text, numbers or datetimes from Excel) and
returns the FHIR value, or raises `CellError` with a message that names the expected form (never
the cell's content: it may be patient data).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

UCUM = "http://unitsofmeasure.org"
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (with Excel's 1900 leap-year bug)


class CellError(ValueError):
    """A cell that cannot be converted: `code` is stable, the message says what was expected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalise(value: Any) -> str:
    """A cell as trimmed text: full-width forms folded (NFKC), integral floats without `.0`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


def is_blank(value: Any) -> bool:
    return normalise(value) == ""


# ---- dates and times -----------------------------------------------------------------------------
_DATE = re.compile(r"^(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*(?:[月\-/.]\s*(\d{1,2})\s*日?|月?)$")
_YEAR = re.compile(r"^(\d{4})\s*年?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$")
_DATETIME = re.compile(
    r"^(?P<date>\d{4}\s*[年\-/.]\s*\d{1,2}\s*[月\-/.]\s*\d{1,2}\s*日?)\s*(?:T|\s)?\s*"
    r"(?P<ampm>上午|下午|凌晨|晚上|中午)?\s*(?P<h>\d{1,2})\s*[:时點点]\s*(?P<m>\d{1,2})\s*分?"
    r"(?:\s*[:]?\s*(?P<s>\d{1,2})(?:\.\d+)?\s*秒?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_PM = ("下午", "晚上")


def _date(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise CellError("tabular.bad_date", "not a real calendar date") from None


def parse_date(value: Any) -> str:
    """A FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) from 2025年3月1日, 2025/3/1, 2025-03-01, 20250301, Excel."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value < 2958466:
        return (EXCEL_EPOCH + dt.timedelta(days=int(value))).isoformat()  # an Excel date serial
    text = normalise(value)
    m = _DATE.match(text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if m.group(3) is None:
            _date(year, month, 1)
            return f"{year:04d}-{month:02d}"
        return _date(year, month, int(m.group(3))).isoformat()
    m = _COMPACT.match(text)
    if m and m.group(4) is None:
        return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    m = _YEAR.match(text)
    if m:
        return m.group(1)
    raise CellError("tabular.bad_date", "expected a date such as 2025-03-01, 2025/3/1 or 2025年3月1日")


def _offset(tz: str) -> str:
    return "+00:00" if tz in ("Z", "+00:00", "-00:00") else tz


def _stamp(day: dt.date, hour: int, minute: int, second: int, tz: str) -> str:
    if hour > 23 or minute > 59 or second > 59:
        raise CellError("tabular.bad_time", "not a real time of day")
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}{_offset(tz)}"


def parse_datetime(value: Any, timezone: str = "+08:00") -> str:
    """A FHIR dateTime from 2025/3/1 8:05, 2025年3月1日 8时5分, 2025-03-01 08:05:30, 20250301080500 or Excel.

    A value without a time of day stays a date (a valid dateTime); the export's `timezone` applies.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.isoformat()
        return _stamp(value.date(), value.hour, value.minute, value.second, timezone)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not value.is_integer() and 1 <= value < 2958466:
        seconds = round((value - int(value)) * 86400)
        day = EXCEL_EPOCH + dt.timedelta(days=int(value))
        return _stamp(day, seconds // 3600, seconds % 3600 // 60, seconds % 60, timezone)
    text = normalise(value)
    m = _COMPACT.match(text)
    if m and m.group(4) is not None:
        day = _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _stamp(day, int(m.group(4)), int(m.group(5)), int(m.group(6) or 0), timezone)
    m = _DATETIME.match(text)
    if m:
        day = dt.date.fromisoformat(parse_date(m.group("date")))
        hour = int(m.group("h"))
        if m.group("ampm") in _PM and hour < 12:
            hour += 12
        tz = m.group("tz") or timezone
        if len(tz) == 5 and tz[0] in "+-":
            tz = f"{tz[:3]}:{tz[3:]}"
        return _stamp(day, hour, int(m.group("m")), int(m.group("s") or 0), tz)
    try:
        return parse_date(value)
    except CellError:
        raise CellError(
            "tabular.bad_datetime", "expected a date and time such as 2025-03-01 08:05 or 2025年3月1日 8时5分"
        ) from None


# ---- numbers ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_COMPARATOR = re.compile(r"^(<=|>=|<|>|≤|≥)\s*(.+)$")
_COMPARATORS = {"≤": "<=", "≥": ">="}


def parse_decimal(value: Any) -> float | int:
    """A number from 1,234.5, ５.６ (full width) or an Excel number."""
    if isinstance(value, bool):
        raise CellError("tabular.bad_number", "expected a number")
    if isinstance(value, int | float):
        return value
    text = normalise(value).replace(",", "")
    if not _NUMBER.match(text):
        raise CellError("tabular.bad_number", "expected a number such as 5.6")
    number = float(text)
    return int(number) if "." not in text and "e" not in text.lower() else number


def parse_integer(value: Any) -> int:
    number = parse_decimal(value)
    if isinstance(number, float) and not number.is_integer():
        raise CellError("tabular.bad_integer", "expected a whole number")
    return int(number)


def parse_result(value: Any) -> tuple[str | None, float | int] | None:
    """(comparator, number) of a numeric result such as 5.6, <0.5 or ≥100; None for a text result."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None, value
    text = normalise(value)
    m = _COMPARATOR.match(text)
    comparator = None
    if m:
        comparator, text = _COMPARATORS.get(m.group(1), m.group(1)), m.group(2).strip()
    try:
        return comparator, parse_decimal(text)
    except CellError:
        return None


_BOOLEAN = {
    "是": True,
    "否": False,
    "有": True,
    "无": False,
    "y": True,
    "n": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "√": True,
    "×": False,
}


def parse_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = normalise(value).lower()
    if text in _BOOLEAN:
        return _BOOLEAN[text]
    raise CellError("tabular.bad_boolean", "expected 是/否, Y/N, true/false or 1/0")


# ---- 身份证 (GB 11643) --------------------------------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def parse_id_card(value: Any) -> str:
    """An 18-character resident ID number with a correct check character (x → X)."""
    text = normalise(value).upper().replace(" ", "")
    if not _ID_RE.match(text):
        raise CellError("tabular.bad_id_card", "expected an 18-character resident ID number")
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != text[17]:
        raise CellError("tabular.bad_id_card", "the ID number's check character is wrong")
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise CellError("tabular.bad_id_card", "the ID number's birth date is not a real date") from None
    return text


# ---- units ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Unit:
    """A unit as the export wrote it and its UCUM code (None when it has none)."""

    text: str
    code: str | None


_UNITS = {
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "μmol/l": "umol/L",
    "µmol/l": "umol/L",
    "nmol/l": "nmol/L",
    "pmol/l": "pmol/L",
    "mg/dl": "mg/dL",
    "mg/l": "mg/L",
    "g/l": "g/L",
    "g/dl": "g/dL",
    "ug/l": "ug/L",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "mu/l": "m[IU]/L",
    "miu/l": "m[IU]/L",
    "uiu/ml": "u[IU]/mL",
    "μiu/ml": "u[IU]/mL",
    "%": "%",
    "fl": "fL",
    "pg": "pg",
    "kg": "kg",
    "g": "g",
    "cm": "cm",
    "m": "m",
    "mm": "mm",
    "mmhg": "mm[Hg]",
    "kpa": "kPa",
    "次/分": "/min",
    "次/min": "/min",
    "bpm": "/min",
    "/min": "/min",
    "℃": "Cel",
    "°c": "Cel",
    "摄氏度": "Cel",
    "kg/m2": "kg/m2",
    "kg/m²": "kg/m2",
    "ml": "mL",
    "l": "L",
    "ml/min": "mL/min",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "10^9/l": "10*9/L",
    "10*9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "×10^9/l": "10*9/L",
    "10e9/l": "10*9/L",
    "×109/l": "10*9/L",
    "10^12/l": "10*12/L",
    "10*12/l": "10*12/L",
    "×10^12/l": "10*12/L",
    "x10^12/l": "10*12/L",
    "×1012/l": "10*12/L",
    "s": "s",
    "秒": "s",
    "mg": "mg",
    "ug": "ug",
    "μg": "ug",
}


def parse_unit(value: Any) -> Unit:
    """The unit and its UCUM code; an unknown unit keeps its text only (a quantity without a code)."""
    raw = str(value).strip() if value is not None else ""
    key = unicodedata.normalize("NFKC", raw).replace(" ", "").lower()
    return Unit(raw, _UNITS.get(key))


def quantity(number: float | int, unit: Unit | None, comparator: str | None = None) -> dict[str, Any]:
    """A FHIR Quantity, with UCUM system and code when the unit is known."""
    out: dict[str, Any] = {"value": number}
    if comparator:
        out["comparator"] = comparator
    if unit is not None and unit.text:
        out["unit"] = unit.text
        if unit.code:
            out["system"] = UCUM
            out["code"] = unit.code
    return out


_RANGE = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*(?:-|~|～|—|–|至|到)\s*([+-]?\d+(?:\.\d+)?)$")


def parse_range(value: Any, unit: Unit | None) -> dict[str, Any]:
    """A referenceRange from 3.9-6.1, 3.9～6.1, <5.2 or ≥60; other text (阴性) stays text only."""
    text = normalise(value)
    out: dict[str, Any] = {"text": str(value).strip()}
    m = _RANGE.match(text)
    if m:
        out["low"] = quantity(parse_decimal(m.group(1)), unit)
        out["high"] = quantity(parse_decimal(m.group(2)), unit)
        return out
    m = _COMPARATOR.match(text)
    if m:
        try:
            number = parse_decimal(m.group(2).strip())
        except CellError:
            return out
        out["high" if m.group(1) in ("<", "<=", "≤") else "low"] = quantity(number, unit)
    return out
