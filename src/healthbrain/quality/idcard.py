"""居民身份证 numbers (GB 11643-1999): structure, check character, and the birth date and sex they encode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# ISO 7064 MOD 11-2: weights of the first 17 digits and the check character of (sum mod 11).
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# The first digit of a GB/T 2260 province code (11 Beijing ... 65 Xinjiang, 71 Taiwan, 81-82 HK/Macao).
PROVINCE_FIRST_DIGITS = frozenset("12345678")


@dataclass(frozen=True, slots=True)
class IdCardCheck:
    """What an ID card number says and whether it holds together.

    `problem` is None for a valid 18-character number, else `format` (wrong length or characters,
    impossible birth date), `check_digit` (the 18th character does not match) or `legacy` (a valid
    15-digit number of the 1984 format, which has no check character).
    """

    problem: str | None
    birth_date: date | None = None
    gender: str | None = None  # FHIR administrative gender


def check_char(first17: str) -> str:
    """The check character of the first 17 digits."""
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _sex(digit: str) -> str:
    return "male" if int(digit) % 2 else "female"


def check_id_card(number: str) -> IdCardCheck:
    """Check an 18-character (or legacy 15-digit) 居民身份证 number."""
    value = number.strip().upper()
    if len(value) == 15 and value.isdigit():
        born = _date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
        if born is None or value[0] not in PROVINCE_FIRST_DIGITS:
            return IdCardCheck("format")
        return IdCardCheck("legacy", born, _sex(value[14]))
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return IdCardCheck("format")
    born = _date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    if born is None or born.year < 1880 or value[0] not in PROVINCE_FIRST_DIGITS:
        return IdCardCheck("format")
    if value[17] != check_char(value[:17]):
        return IdCardCheck("check_digit", born, _sex(value[16]))
    return IdCardCheck(None, born, _sex(value[16]))
