"""The cockpit's strings as the code marks them: t("...") in templates and Python, N_("...") and the
messages of InputProblem("...") in Python — the list tests/ui/test_catalogs.py checks the catalogs against."""

from __future__ import annotations

import re
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "src" / "healthbrain" / "api" / "ui"
_STRING = r"\(\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
MARKERS = re.compile(r"(?<![A-Za-z_])(?:t|N_|InputProblem)" + _STRING)


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return body.replace('\\"', '"').replace("\\'", "'")


def marked_strings() -> set[str]:
    found: set[str] = set()
    for path in [*UI.rglob("*.py"), *UI.rglob("*.html")]:
        found.update(_unquote(m.group(1)) for m in MARKERS.finditer(path.read_text("utf-8")))
    return found
