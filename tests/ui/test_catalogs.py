"""Every string the cockpit shows is in both gettext catalogs (context "cockpit"), translated into
Chinese, with the same %(name)s placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po
from catalogs import marked_strings

from healthbrain.api.ui.text import CONTEXT, Translator

LOCALE = Path(__file__).resolve().parents[2] / "src" / "healthbrain" / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(lang: str) -> dict[str, str]:
    with (LOCALE / lang / "LC_MESSAGES" / "healthbrain.po").open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.context == CONTEXT}


def test_every_marked_string_is_in_both_catalogs() -> None:
    marked = marked_strings()
    assert len(marked) > 200  # the scan found the cockpit's strings at all
    for lang in ("zh_CN", "en"):
        missing = sorted(marked - _catalog(lang).keys())
        assert not missing, f"{lang} lacks {missing[:10]}"


def test_chinese_is_translated_and_keeps_placeholders() -> None:
    zh = _catalog("zh_CN")
    for message in marked_strings():
        text = zh[message]
        assert (text and text != message) or not re.search(r"[A-Za-z]{3}", message), message
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message)), message


def test_the_default_language_is_chinese_and_english_reads_english() -> None:
    assert Translator("zh_CN")("Region overview") == "区域总览"
    assert Translator("en")("Region overview") == "Region overview"
    assert Translator("zh_CN")("%(n)s found", n=3) == "共 3 条"
