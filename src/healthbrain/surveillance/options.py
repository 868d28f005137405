"""Detector and forecaster options: building frozen option objects from user mappings, strictly."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from healthbrain.core.errors import InvalidInput, Issue

T = TypeVar("T")

UNKNOWN_OPTION = "surveillance.unknown_option"
INVALID_OPTION = "surveillance.invalid_option"


def parse_options(cls: type[T], values: Mapping[str, Any] | None) -> T:
    """Build the frozen options dataclass `cls` from a mapping; an unknown key is an error.

    Args:
        cls: a frozen dataclass of options whose `__post_init__` validates the values.
        values: user-supplied options (e.g. a JSON body); missing keys keep their defaults.

    Returns:
        The validated options.

    Raises:
        InvalidInput: `surveillance.unknown_option` listing every unknown key (with the closest
            known name), or the option class's own validation error.
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not an options dataclass")
    known = [f.name for f in fields(cls)]
    given = dict(values or {})
    issues = []
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            issues.append(Issue("error", "invalid", f"unknown option '{key}'{hint}", key))
    if issues:
        raise InvalidInput(
            f"{cls.__name__}: " + "; ".join(i.diagnostics for i in issues), issues=issues, code=UNKNOWN_OPTION
        )
    try:
        return cls(**given)
    except TypeError as exc:  # a value of the wrong type that the validator could not compare
        raise InvalidInput(f"{cls.__name__}: {exc}", code=INVALID_OPTION) from exc


def check(problems: list[str], owner: str) -> None:
    """Raise one InvalidInput listing every problem found by an options validator."""
    if problems:
        issues = [Issue("error", "value", p) for p in problems]
        raise InvalidInput(f"{owner}: " + "; ".join(problems), issues=issues, code=INVALID_OPTION)


def is_probability(value: object, *, open_interval: bool = True) -> bool:
    """Whether `value` is a real number in (0, 1) (or [0, 1] when not `open_interval`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0


def is_int_at_least(value: object, minimum: int) -> bool:
    """Whether `value` is an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_number(value: object, minimum: float | None = None) -> bool:
    """Whether `value` is a finite real number (not a bool), at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return minimum is None or value >= minimum
