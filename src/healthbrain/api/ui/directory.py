"""Directory reads the pages share: Organizations (names, hierarchy), cached a while."""

from __future__ import annotations

import re
from typing import Any

from healthbrain.api.ui.web import InputProblem, Ui

__all__ = ["ID_PATTERN", "checked_id", "org_names", "organizations"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def checked_id(value: str | None) -> str:
    """A FHIR id from a URL, or a clear 400."""
    if not value or not ID_PATTERN.match(value):
        raise InputProblem("The address names no valid record.")
    return value


async def organizations(ui: Ui) -> list[dict[str, Any]]:
    """Every Organization of the directory (any signed-in role may read it)."""
    key = ("orgs",)
    hit = ui.cockpit.cached(key)
    if hit is not None:
        return list(hit)
    bundle = await ui.api.get("/fhir/R4/Organization", {"_count": "1000", "_total": "none"})
    orgs = [e["resource"] for e in bundle.get("entry") or () if e.get("resource")]
    return list(ui.cockpit.remember(key, orgs))


async def org_names(ui: Ui) -> dict[str, str]:
    return {str(o["id"]): str(o.get("name") or o["id"]) for o in await organizations(ui)}
