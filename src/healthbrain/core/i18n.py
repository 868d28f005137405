"""gettext catalogs for user-facing text: zh_CN by default, English available.

Catalogs live in `healthbrain/locale/<lang>/LC_MESSAGES/healthbrain.po`; `python -m healthbrain.core.i18n
compile` writes the .mo files (run by `make`); if a .mo is missing the .po is compiled in memory.
"""

from __future__ import annotations

import gettext
import io
import sys
from functools import cache
from pathlib import Path

DOMAIN = "healthbrain"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"


def _compile(po_path: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of `language` (falls back to the default language, then to the source text)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    mo = folder / f"{DOMAIN}.mo"
    po = folder / f"{DOMAIN}.po"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if po.exists():
        return gettext.GNUTranslations(io.BytesIO(_compile(po)))
    return gettext.NullTranslations()


def explain(code: str, language: str) -> str | None:
    """An error code explained for users in `language` (catalog context "error"), if the catalog has it."""
    text = translations(language).pgettext("error", code)
    return None if text == code else text


def negotiate(accept_language: str | None, override: str | None = None) -> str:
    """Pick zh_CN or en from a `lang` override or an Accept-Language header; zh_CN by default."""
    for candidate in [override or "", *(accept_language or "").split(",")]:
        tag = candidate.split(";")[0].strip().replace("-", "_").lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def compile_all() -> list[Path]:
    """Write every .mo next to its .po."""
    written = []
    for lang in LANGUAGES:
        po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            mo = po.with_suffix(".mo")
            mo.write_bytes(_compile(po))
            written.append(mo)
    return written


if __name__ == "__main__":
    if sys.argv[1:] == ["compile"]:
        for path in compile_all():
            print(f"compiled {path.relative_to(LOCALE_DIR.parent)}")
