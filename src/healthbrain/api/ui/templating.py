"""Jinja2 templates of the cockpit, one environment per language, autoescaped, with the cockpit's filters."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from healthbrain.api.ui.labels import JOB_TITLES, LABELS
from healthbrain.api.ui.nav import ROLE_NAMES
from healthbrain.api.ui.text import Translator, local_time
from healthbrain.core.i18n import LANGUAGES

__all__ = ["Templates", "json_script"]


def json_script(value: Any) -> Markup:
    """JSON for a `<script type="application/json">` block (no `</script>` can close it early)."""
    text = orjson.dumps(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def number(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


class Templates:
    """Renders templates in a language: `t`, dates, numbers and JSON blocks available everywhere."""

    def __init__(self, version: str) -> None:
        self.version = version

    @cached_property
    def _environments(self) -> Mapping[str, Environment]:
        out = {}
        for lang in LANGUAGES:
            env = Environment(
                loader=PackageLoader("healthbrain.api.ui", "templates"),
                autoescape=select_autoescape(default=True, default_for_string=True),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            t = Translator(lang)
            env.globals.update(
                t=t,
                lang=lang,
                html_lang="zh-CN" if lang == "zh_CN" else "en",
                version=self.version,
                role_names=ROLE_NAMES,
                labels=LABELS,
                job_titles=JOB_TITLES,
            )
            env.filters.update(json=json_script, when=local_time, num=number)
            out[lang] = env
        return out

    def render(self, lang: str, name: str, **values: Any) -> str:
        env = self._environments.get(lang) or self._environments["zh_CN"]
        return env.get_template(name).render(**values)
