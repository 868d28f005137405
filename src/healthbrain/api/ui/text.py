"""The cockpit's words: every string shown goes through the gettext catalogs (context "cockpit").

`N_` marks a string in Python for the catalogs without translating it yet; `Translator` translates in
the language of the request. tests/ui/test_catalogs.py checks that every marked string is in both
catalogs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from healthbrain.core.i18n import translations

__all__ = ["CONTEXT", "N_", "REGION_TZ", "Translator", "local_time"]

CONTEXT = "cockpit"
# The region's clock: days (records today, quality days) are the platform's local days.
REGION_TZ = ZoneInfo("Asia/Shanghai")


def N_(message: str) -> str:  # noqa: N802  (the gettext convention)
    """Mark `message` for translation; it is translated where it is shown."""
    return message


class Translator:
    """A translation function in one language; named parameters fill %(name)s placeholders after
    translation."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._catalog = translations(language)

    def __call__(self, message: str, **params: object) -> str:
        text = self._catalog.pgettext(CONTEXT, message)
        return text % params if params else text


def local_time(ts: float | str | None, *, with_date: bool = True) -> str:
    """A timestamp (epoch seconds or ISO text) as the region's local time; empty for none."""
    if ts is None or ts == "":
        return ""
    try:
        when = (
            datetime.fromtimestamp(float(ts), UTC)
            if isinstance(ts, int | float)
            else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
        )
    except ValueError:
        return str(ts)
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
    local = when.astimezone(REGION_TZ)
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


Gettext = Callable[..., str]
