"""居民身份证 numbers (GB 11643-1999): check character, 15-digit legacy ids, embedded birth date and sex."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
from numpy.typing import NDArray

# GB 11643-1999: weights of the first 17 digits; the check character is CHECK_CHARS[sum mod 11].
WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$|^\d{15}$")
# Registration desks type these when the card is not at hand; they identify nobody.
_FILLER = re.compile(r"^(\d)\1{5,}")


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits (may be 'X')."""
    total = sum(int(c) * int(w) for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def clean_id(raw: str) -> str:
    """Upper-case, without spaces, hyphens or full-width digits (as OCR and clerks produce them)."""
    text = raw.strip().upper().translate(_FULL_WIDTH)
    return re.sub(r"[\s\-]", "", text)


_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX")


def upgrade_legacy(number: str) -> str:
    """A 15-digit id (issued before 1999: yymmdd birth, no check digit) as its 18-digit form."""
    first17 = number[:6] + "19" + number[6:]
    return first17 + check_char(first17)


def birth_date_of(number: str) -> date | None:
    """The birth date in digits 7-14 of an 18-character id, or None when it is not a real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def sex_of(number: str) -> str:
    """FHIR gender encoded in the 17th digit: odd for men, even for women."""
    return "male" if int(number[16]) % 2 else "female"


def is_valid(number: str) -> bool:
    """Well formed 18-character id with a real birth date and the right check character."""
    return (
        len(number) == 18
        and number[:17].isdigit()
        and birth_date_of(number) is not None
        and number[17] == check_char(number[:17])
    )


def is_placeholder(number: str) -> bool:
    """Whether the number is a filler (000000..., 111111..., 123456789...) rather than a real id."""
    digits = number[:17]
    return bool(_FILLER.match(digits)) or digits.startswith("12345678") or not digits.strip("0")


def normalise_id(raw: str) -> tuple[str, str]:
    """(18-character id or '', flag) where flag is 'ok', 'legacy', 'invalid', 'placeholder' or 'missing'.

    Invalid ids are kept: a mistyped digit is still strong evidence when only one digit differs.
    'unchecked' means well formed with a real birth date; `checksums_valid` tells ok from invalid
    for many numbers at once.
    """
    number = clean_id(raw)
    if not number:
        return "", "missing"
    if not _SHAPE.match(number):
        return "", "placeholder" if len(set(number)) <= 2 else "invalid_shape"
    if is_placeholder(number):
        return "", "placeholder"
    if len(number) == 15:
        return upgrade_legacy(number), "legacy"
    if birth_date_of(number) is None:
        return number, "invalid"
    return number, "unchecked"


def checksums_valid(numbers: NDArray[np.str_]) -> NDArray[np.bool_]:
    """Vectorised check-character test of 18-character ids ('' gives False)."""
    n = len(numbers)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    raw = np.frombuffer(np.asarray(numbers, dtype="U18").tobytes(), dtype=np.uint32).reshape(n, 18)
    full = raw[:, 17] != 0
    digits = raw[:, :17].astype(np.int64) - ord("0")
    total = (digits * WEIGHTS).sum(axis=1) % 11
    expected = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)[total]
    return np.asarray(full & (raw[:, 17] == expected), dtype=bool)
