"""Operation outputs: Parameters resources, Codings and designations, per the R4 operation definitions."""

from __future__ import annotations

from typing import Any

from healthbrain.core.errors import HealthBrainError, Issue, NotFound
from healthbrain.terminology.expansion import fold
from healthbrain.terminology.model import Designation


class ExpansionTooLarge(HealthBrainError):
    """An expansion larger than the server hands out at once: the client should page with count/offset."""

    status = 422
    code = "terminology.expansion_too_large"
    issue_type = "too-costly"


def part(name: str, key: str, value: Any) -> dict[str, Any]:
    """One Parameters.parameter with a value of type `key` (valueString, valueCode ...)."""
    return {"name": name, key: value}


def parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [p for p in parts if p]}


def coding(
    system: str | None, code: str | None, display: str | None = None, version: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if system:
        out["system"] = system
    if version:
        out["version"] = version
    if code:
        out["code"] = code
    if display:
        out["display"] = display
    return out


def designation_json(d: Designation) -> dict[str, Any]:
    out: dict[str, Any] = {"value": d.value}
    if d.language:
        out["language"] = d.language
    if d.use:
        out["use"] = dict(d.use)
    return out


def designation_part(d: Designation) -> dict[str, Any]:
    """A $lookup `designation` output parameter (parts language, use, value)."""
    parts: list[dict[str, Any]] = []
    if d.language:
        parts.append(part("language", "valueCode", d.language))
    if d.use:
        parts.append(part("use", "valueCoding", dict(d.use)))
    parts.append(part("value", "valueString", d.value))
    return {"name": "designation", "part": parts}


def unknown_system(system: str, where: str | None = "system") -> NotFound:
    message = f"the code system {system} is not known to this server"
    return NotFound(
        message, issues=[Issue("error", "not-found", message, where)], code="terminology.unknown_system"
    )


def unknown_code(system: str, code: str, where: str | None = "code") -> NotFound:
    message = f"the code '{code}' is not in the code system {system}"
    return NotFound(
        message, issues=[Issue("error", "not-found", message, where)], code="terminology.unknown_code"
    )


def names_match(given: str, candidates: list[str | None]) -> bool:
    """Whether a display matches one of the names, ignoring case, width and surrounding space."""
    wanted = fold(given).strip()
    return any(c is not None and fold(c).strip() == wanted for c in candidates)
