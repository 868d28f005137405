"""Text normalisation for string search, shared by the indexer and the search parser.

Both sides must agree exactly: a stored value and a search value are compared after the same
`normalise`. It folds what a user does not mean to distinguish: case, accents, full-width forms
(`ＡＢＣ１２３` → `abc123`, common in Chinese input methods) and runs of white space.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["has_cjk", "name_variants", "normalise"]


@lru_cache(maxsize=65536)
def normalise(value: str) -> str:
    """NFKC, casefold, strip combining marks, collapse white space."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        folded = unicodedata.normalize(
            "NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
        )
    return " ".join(folded.split())


def has_cjk(value: str) -> bool:
    """True when `value` holds a CJK ideograph (names then carry no spaces between parts)."""
    return any(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\U00020000" <= ch <= "\U0002a6df"
        for ch in value
    )


def name_variants(family: str | None, given: list[str]) -> list[str]:
    """Whole-name forms a user types for one HumanName.

    Chinese names are written family first without a space (张伟, 欧阳娜娜), and records split them
    inconsistently, so the joined form is searchable; Latin names get "given family".
    """
    parts_given = [g for g in given if g]
    if not family and not parts_given:
        return []
    family = family or ""
    if has_cjk(family) or any(has_cjk(g) for g in parts_given):
        joined = family + "".join(parts_given)
        return [joined] if joined else []
    forms = [" ".join([*parts_given, family]).strip(), " ".join([family, *parts_given]).strip()]
    return list(dict.fromkeys(f for f in forms if f))
