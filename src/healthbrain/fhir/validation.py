"""Structural validation of incoming resources against the R4B models of `fhir.resources`.

R4 proper is not packaged; R4B differs from R4 only for a few resources (the MedicinalProduct* family,
SubstanceSpecification, the evidence-synthesis resources), which R4B removed or rebuilt. Those are
checked for shape only (an object with a known `resourceType` and a valid `id`); everything else gets
full structural validation: data types, cardinality, unknown elements, primitive formats.
See docs/decisions/0003-validation-r4b.md.
"""

from __future__ import annotations

import datetime
import decimal
import types
import typing
from functools import cache
from importlib import resources as package_files
from typing import Any

import orjson
from pydantic import ValidationError

from healthbrain.core.errors import InvalidInput, Issue, Unprocessable
from healthbrain.fhir.resources import ID_RE
from healthbrain.fhir.types import is_resource_type

__all__ = ["R4_ONLY_TYPES", "is_valid_r4b", "validate_or_raise", "validate_resource"]

# R4 resource types with no (or a rebuilt, incompatible) R4B model.
R4_ONLY_TYPES: frozenset[str] = frozenset(
    {
        "EffectEvidenceSynthesis",
        "Evidence",
        "EvidenceVariable",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceSpecification",
    }
)

MAX_ISSUES = 100


@cache
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def _expression(resource_type: str, loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a FHIRPath expression: ('name', 0, 'family') → Patient.name[0].family."""
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("__root__", ""):
            continue
        else:
            name = str(part)
            # fhir.resources suffixes python keywords and aliases primitive extensions as `_x`
            if name.endswith("__ext"):
                name = "_" + name[: -len("__ext")]
            out += f".{name}"
    return out


def _message(err: dict[str, Any]) -> str:
    """The error's message without the offending value (it may be patient data)."""
    kind = str(err.get("type", ""))
    if kind == "extra_forbidden":
        return "unknown element"
    if kind == "missing":
        return "required element is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def _base_type(annotation: Any) -> Any:
    """The element type under Optional/List/Annotated wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated or origin in (list, typing.List):  # noqa: UP006
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


@cache
def _fields(model: Any) -> dict[str, tuple[str, Any]]:
    """JSON name → (python attribute, element type) of a model class."""
    return {(f.alias or name): (name, _base_type(f.annotation)) for name, f in model.model_fields.items()}


_STRING_TYPES = (str, bytes, datetime.date, datetime.datetime, datetime.time)


def _json_type_ok(expected: Any, value: Any) -> bool:
    # See: https://hl7.org/fhir/R4/json.html#primitive — booleans and numbers are JSON literals,
    # every other primitive is a JSON string.
    if value is None:
        return True
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is decimal.Decimal:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(expected, type) and issubclass(expected, _STRING_TYPES):
        return isinstance(value, str)
    return True


def _complex_model(expected: Any, item: Any) -> Any:
    """The model class of a complex element (a contained resource resolves by its resourceType)."""
    getter = getattr(expected, "get_model_klass", None)
    if getter is None:
        return None
    klass = getter()
    if klass.__name__ in ("Resource", "DomainResource") and isinstance(item, dict):
        return _model(str(item.get("resourceType")))
    return klass


@cache
def required_bindings() -> dict[str, frozenset[str]]:
    """`Class.element` → the codes its required binding allows (from data/required_bindings.json)."""
    raw = orjson.loads(
        (package_files.files("healthbrain.fhir") / "data" / "required_bindings.json").read_bytes()
    )
    sets = {name: frozenset(codes) for name, codes in raw["valueSets"].items()}
    return {element: sets[vs] for element, vs in raw["elements"].items() if vs is not None}


_KIND = {bool: "a JSON boolean", int: "a JSON integer", decimal.Decimal: "a JSON number"}


def _primitive_json_issues(data: dict[str, Any], model: Any, path: str, out: list[Issue]) -> None:
    """Check JSON types of primitives: pydantic coerces "yes" to true and "2" to 2, FHIR JSON does not."""
    fields = _fields(model)
    bindings = required_bindings()
    for key, value in data.items():
        found = fields.get(key)
        if found is None or len(out) >= MAX_ISSUES:
            continue
        expected = found[1]
        listed = isinstance(value, list)
        for i, item in enumerate(value if listed else [value]):
            where = f"{path}.{key}[{i}]" if listed else f"{path}.{key}"
            sub = _complex_model(expected, item)
            if sub is not None:
                if isinstance(item, dict):
                    _primitive_json_issues(item, sub, where, out)
            elif not _json_type_ok(expected, item):
                out.append(Issue("error", "value", f"must be {_KIND.get(expected, 'a JSON string')}", where))
            elif isinstance(item, str) and item not in bindings.get(f"{model.__name__}.{key}", (item,)):
                out.append(Issue("error", "code-invalid", "the code is not in the required value set", where))


def validate_resource(resource: Any, *, expected_type: str | None = None) -> list[Issue]:
    """Every structural problem of `resource`, each located by a FHIRPath expression.

    Returns an empty list for a valid resource. Never raises for bad content.
    """
    if not isinstance(resource, dict):
        return [Issue("error", "structure", "a resource must be a JSON object")]
    rt = resource.get("resourceType")
    if not isinstance(rt, str) or not is_resource_type(rt):
        return [Issue("error", "invalid", "missing or unknown resourceType", "resourceType")]
    if expected_type is not None and rt != expected_type:
        return [Issue("error", "invalid", f"expected a {expected_type}, got a {rt}", "resourceType")]
    issues: list[Issue] = []
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_RE.match(rid)):
        issues.append(Issue("error", "value", "id must be 1-64 characters of A-Z a-z 0-9 - .", f"{rt}.id"))
    model = None if rt in R4_ONLY_TYPES else _model(rt)
    if model is None:
        return issues
    _primitive_json_issues(resource, model, rt, issues)
    located = {i.expression for i in issues}
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        for err in exc.errors()[:MAX_ISSUES]:
            loc = tuple(err.get("loc", ()))
            kind = err.get("type")
            code = (
                "required"
                if kind == "missing"
                else ("structure" if kind in ("extra_forbidden", "dict_type", "list_type") else "value")
            )
            where = _expression(rt, loc)
            if where not in located:
                issues.append(Issue("error", code, _message(dict(err)), where))
    except (ValueError, TypeError) as exc:  # model-level checks that do not raise ValidationError
        issues.append(Issue("error", "invariant", type(exc).__name__, rt))
    return issues


def validate_or_raise(resource: Any, *, expected_type: str | None = None) -> None:
    """Raise one error listing every problem: 400 for a wrong shape, 422 for invalid content."""
    issues = validate_resource(resource, expected_type=expected_type)
    if not issues:
        return
    if len(issues) == 1 and issues[0].expression in (None, "resourceType"):
        raise InvalidInput(issues[0].diagnostics, issues=issues, code="fhir.invalid_resource")
    raise Unprocessable(
        f"the resource has {len(issues)} problem(s); the first: {issues[0].diagnostics}",
        issues=issues,
        code="fhir.invalid_resource",
    )


def is_valid_r4b(resource: Any) -> bool:
    """True when the resource validates against its R4B model (R4-only types are never 'valid R4B')."""
    if not isinstance(resource, dict) or resource.get("resourceType") in R4_ONLY_TYPES:
        return False
    return not validate_resource(resource)
