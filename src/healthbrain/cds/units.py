"""Unit spelling normalisation and conversion to an analyte's canonical unit."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["convert", "normalise_unit"]

_POWER = re.compile(r"^(?:x|×)?\s*10(?:\^|\*|e|\*\*)\s*(\d+)\s*/\s*(l|ul|mm3|nl)$")
_ALIASES = {
    "mmhg": "mm[hg]",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "℃": "cel",
    "°c": "cel",
    "degc": "cel",
    "iu": "[iu]",
    "mosmol/kg": "mosm/kg",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "次/分": "/min",
    "l/min": "l/min",
}


def normalise_unit(unit: str | None) -> str:
    """A comparable spelling: lower case, ASCII micro, `10*9/l` powers, common aliases.

    UCUM is case-sensitive, but laboratory systems rarely are (`mmol/l`, `mg/dl`); within the
    analyte-specific tables used here no two units differ by case only.
    """
    if unit is None:
        return ""
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace(" ", "").lower()
    text = text.replace("mcg", "ug")
    match = _POWER.match(text)
    if match:
        exponent, denominator = match.groups()
        return f"10*{exponent}/{denominator}"
    return _ALIASES.get(text, text)


def convert(value: float, unit: str | None, factors: Mapping[str, float]) -> float | None:
    """`value` in the canonical unit, or None when the unit is not one the table knows.

    `factors` maps normalised unit spellings to the factor that converts into the canonical unit.
    """
    factor = factors.get(normalise_unit(unit))
    return None if factor is None else value * factor
