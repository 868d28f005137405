"""Operation inputs: a Parameters resource (POST) or query parameters (GET), checked and typed.

See: https://hl7.org/fhir/R4/operations.html#request — primitive inputs may come in the URL, complex
ones (Coding, CodeableConcept, a ValueSet resource) only in a Parameters body. Every problem is
reported with its location; unknown parameter names are an error, not silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue

_PRIMITIVES = (
    "valueString",
    "valueCode",
    "valueUri",
    "valueUrl",
    "valueCanonical",
    "valueBoolean",
    "valueInteger",
    "valueDateTime",
    "valueDate",
    "valueId",
    "valueDecimal",
    "valuePositiveInt",
    "valueUnsignedInt",
)
_COMPLEX = ("valueCoding", "valueCodeableConcept")


@dataclass(frozen=True, slots=True)
class Param:
    """One input value and where it came from (for error locations)."""

    value: Any
    where: str


def _bad(message: str, where: str | None, code: str = "terminology.invalid_parameter") -> InvalidInput:
    return InvalidInput(message, issues=[Issue("error", "invalid", message, where)], code=code)


@dataclass(frozen=True, slots=True)
class OpParams:
    """The inputs of one operation call by name."""

    operation: str
    values: Mapping[str, tuple[Param, ...]]

    def _one(self, name: str) -> Param | None:
        found = self.values.get(name, ())
        if len(found) > 1:
            raise _bad(f"{self.operation}: '{name}' may be given only once", found[1].where)
        return found[0] if found else None

    def has(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str) -> str | None:
        p = self._one(name)
        if p is None:
            return None
        if not isinstance(p.value, str | int | float) or isinstance(p.value, bool):
            raise _bad(f"{self.operation}: '{name}' must be a string", p.where)
        text = str(p.value).strip()
        return text or None

    def texts(self, name: str) -> list[str]:
        return [str(p.value) for p in self.values.get(name, ()) if isinstance(p.value, str) and p.value]

    def flag(self, name: str, default: bool = False) -> bool:
        p = self._one(name)
        if p is None:
            return default
        if isinstance(p.value, bool):
            return p.value
        if isinstance(p.value, str) and p.value.lower() in ("true", "false"):
            return p.value.lower() == "true"
        raise _bad(f"{self.operation}: '{name}' must be true or false", p.where)

    def integer(self, name: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
        p = self._one(name)
        if p is None:
            return None
        value = p.value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise _bad(f"{self.operation}: '{name}' must be an integer ≥ {minimum}", p.where)
        return value if maximum is None else min(value, maximum)

    def complex(self, name: str) -> tuple[dict[str, Any], str] | None:
        """A Coding, CodeableConcept or resource input with its location."""
        p = self._one(name)
        if p is None:
            return None
        if not isinstance(p.value, dict):
            raise _bad(f"{self.operation}: '{name}' must be given in a Parameters body", p.where)
        return p.value, p.where


def from_query(operation: str, query: Sequence[tuple[str, str]], allowed: frozenset[str]) -> OpParams:
    """Inputs of a GET call; `_format` and other `_` parameters are the HTTP layer's and ignored."""
    values: dict[str, list[Param]] = {}
    for name, value in query:
        if name.startswith("_"):
            continue
        if name not in allowed:
            raise _bad(f"{operation}: unknown parameter '{name}'", name, "terminology.unknown_parameter")
        values.setdefault(name, []).append(Param(value, name))
    return OpParams(operation, {k: tuple(v) for k, v in values.items()})


def from_parameters(operation: str, body: Any, allowed: frozenset[str]) -> OpParams:
    """Inputs of a POST call: a Parameters resource, every problem listed with its location."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise _bad(f"{operation}: the body must be a Parameters resource", "resourceType")
    raw = body.get("parameter") or []
    if not isinstance(raw, list):
        raise _bad("Parameters.parameter must be a list", "Parameters.parameter")
    values: dict[str, list[Param]] = {}
    issues: list[Issue] = []
    for i, p in enumerate(raw):
        where = f"Parameters.parameter[{i}]"
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str) or not name:
            issues.append(Issue("error", "required", "every parameter needs a name", f"{where}.name"))
            continue
        if name not in allowed:
            issues.append(
                Issue("error", "invalid", f"{operation}: unknown parameter '{name}'", f"{where}.name")
            )
            continue
        value = _parameter_value(p)
        if value is None:
            issues.append(Issue("error", "required", f"parameter '{name}' has no value", where))
            continue
        values.setdefault(name, []).append(Param(value, where))
    if issues:
        raise InvalidInput(issues[0].diagnostics, issues=issues, code="terminology.invalid_parameter")
    return OpParams(operation, {k: tuple(v) for k, v in values.items()})


def _parameter_value(p: dict[str, Any]) -> Any:
    if isinstance(p.get("resource"), dict):
        return p["resource"]
    for key in (*_PRIMITIVES, *_COMPLEX):
        if key in p:
            return p[key]
    return None


def coding_input(params: OpParams, *, system_name: str = "system") -> list[tuple[dict[str, Any], str]]:
    """The codings to work on: code+system, a `coding`, or each coding of a `codeableConcept`."""
    code = params.text("code")
    found: list[tuple[dict[str, Any], str]] = []
    if code is not None:
        coding = {"code": code}
        system = params.text(system_name)
        if system:
            coding["system"] = system
        version = params.text("version") or params.text("systemVersion")
        if version:
            coding["version"] = version
        display = params.text("display") if params.has("display") else None
        if display:
            coding["display"] = display
        found.append((coding, "code"))
    coding_param = params.complex("coding")
    if coding_param is not None:
        found.append(coding_param)
    concept = params.complex("codeableConcept")
    if concept is not None:
        value, where = concept
        for i, c in enumerate(value.get("coding") or ()):
            if isinstance(c, dict):
                found.append((c, f"{where}.valueCodeableConcept.coding[{i}]"))
    for coding, where in found:
        if not isinstance(coding.get("code"), str) or not coding["code"]:
            raise _bad(f"{params.operation}: a coding needs a code", where)
    return found
