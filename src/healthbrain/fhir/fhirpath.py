"""A compiled FHIRPath subset: exactly what the official R4 search parameter expressions use.

The search indexer evaluates every parameter of a resource on every write, so expressions are
compiled once into a tuple of steps and evaluated over the resource JSON without an interpreter.
The subset (checked against all 1,375 official definitions):

- paths `Type.a.b` (and `%resource.a` in composite components), union `|` handled by the caller;
- choice types: `value` finds `valueQuantity`, `valueString` …; `x as T` and `x.as(T)` pick one;
- `where(resolve() is T)` keeps references to type T;
- `where(field='literal')` keeps elements whose field equals the literal;
- `X.exists() and X != false` (only `Patient.deceased`) as the special `deceased` step.

Anything else raises `UnsupportedExpression`, which the indexer reports and skips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["CompiledPath", "Node", "UnsupportedExpression", "compile_path"]

# FHIR data type names that can follow a choice element's name in JSON (valueQuantity ...).
CHOICE_SUFFIXES = frozenset(
    {
        "Address",
        "Age",
        "Annotation",
        "Attachment",
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "CodeableConcept",
        "Coding",
        "ContactDetail",
        "ContactPoint",
        "Contributor",
        "Count",
        "DataRequirement",
        "Date",
        "DateTime",
        "Decimal",
        "Distance",
        "Dosage",
        "Duration",
        "Expression",
        "HumanName",
        "Id",
        "Identifier",
        "Instant",
        "Integer",
        "Markdown",
        "Meta",
        "Money",
        "Oid",
        "ParameterDefinition",
        "Period",
        "PositiveInt",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "RelatedArtifact",
        "SampledData",
        "Signature",
        "String",
        "Time",
        "Timing",
        "TriggerDefinition",
        "UnsignedInt",
        "Uri",
        "Url",
        "UsageContext",
        "Uuid",
    }
)

# Names of choice elements (`value[x]`) in any R4/R4B resource or data type, from the R4B models
# (tools/list_choice_elements.py; R4-only resources have no R4B model and are validated for shape
# only, see fhir/validation.py). Only under these names does the
# evaluator look for `valueQuantity`-style keys; every other missing element is simply absent.
CHOICE_ELEMENTS = frozenset(
    {
        "abatement",
        "additive",
        "age",
        "allowed",
        "amount",
        "answer",
        "asNeeded",
        "author",
        "born",
        "bounds",
        "characteristic",
        "chargeItem",
        "citeAs",
        "code",
        "collected",
        "concentration",
        "content",
        "created",
        "date",
        "deceased",
        "defaultValue",
        "definition",
        "detail",
        "diagnosis",
        "dose",
        "doseNumber",
        "due",
        "duration",
        "effective",
        "entity",
        "event",
        "example",
        "fastingStatus",
        "fixed",
        "identified",
        "indication",
        "item",
        "legallyBinding",
        "location",
        "manufacturer",
        "maxValue",
        "medication",
        "minValue",
        "minimumVolume",
        "module",
        "multipleBirth",
        "name",
        "occurred",
        "occurrence",
        "offset",
        "onset",
        "participantEffective",
        "pattern",
        "performed",
        "period",
        "presentation",
        "probability",
        "procedure",
        "product",
        "quantity",
        "rate",
        "reported",
        "scheduled",
        "seriesDoses",
        "serviced",
        "source",
        "start",
        "statusReason",
        "strength",
        "studyEffective",
        "subject",
        "substance",
        "substanceDefinition",
        "target",
        "time",
        "timing",
        "topic",
        "used",
        "value",
        "when",
    }
)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CAST_RE = re.compile(rf"^\((.+)\s+as\s+({_IDENT})\)$|^(.+)\s+as\s+({_IDENT})$")
_AS_FN_RE = re.compile(rf"^as\(({_IDENT})\)$")
_RESOLVE_RE = re.compile(rf"^where\(resolve\(\)\s+is\s+({_IDENT})\)$")
_WHERE_EQ_RE = re.compile(rf"^where\(({_IDENT})\s*=\s*'([^']*)'\)$")
_DECEASED_RE = re.compile(rf"^({_IDENT})\.deceased\.exists\(\)\s+and\s+\1\.deceased\s*!=\s*false$")


class UnsupportedExpression(ValueError):
    """An expression outside the compiled subset."""


class Node(NamedTuple):
    """One value reached by a path, with its FHIR type when the JSON name tells it (choice types).

    A NamedTuple, not a frozen dataclass: the indexer makes millions of these during ingest and a
    tuple is several times cheaper to build.
    """

    value: Any
    type: str | None = None


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Cast:
    type: str


@dataclass(frozen=True, slots=True)
class _ResolveIs:
    type: str


@dataclass(frozen=True, slots=True)
class _WhereEq:
    field: str
    literal: str


@dataclass(frozen=True, slots=True)
class _Deceased:
    pass


@dataclass(frozen=True, slots=True)
class _Index:
    position: int


_Step = _Field | _Cast | _ResolveIs | _WhereEq | _Deceased | _Index
_INDEXED_RE = re.compile(rf"^({_IDENT})\[(\d+)\]$")


def _split_dots(path: str) -> list[str]:
    """Split on dots outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quote = False
    buf: list[str] = []
    for ch in path:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == "." and depth == 0 and not quote:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts]


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A compiled union term; `root` is the type it starts from (`Resource` applies to all)."""

    expression: str
    root: str
    steps: tuple[_Step, ...]

    @property
    def first_field(self) -> str | None:
        """The top-level element this path starts with (the indexer dispatches on it)."""
        if not self.steps:
            return None
        first = self.steps[0]
        if isinstance(first, _Field):
            return first.name
        if isinstance(first, _Deceased):
            return "deceased"
        return None

    def evaluate(self, resource: dict[str, Any]) -> list[Node]:
        nodes = [Node(resource, self.root)]
        for step in self.steps:
            if not nodes:
                return nodes
            nodes = _fields(step.name, nodes) if isinstance(step, _Field) else list(_apply(step, nodes))
        return nodes


def _fields(name: str, nodes: list[Node]) -> list[Node]:
    """The `name` children of `nodes`: the hot path of indexing, so plain loops and lists."""
    out: list[Node] = []
    for node in nodes:
        value = node.value
        if type(value) is not dict:
            continue
        found = value.get(name)
        if found is not None:
            if type(found) is list:
                out.extend(Node(item) for item in found)
            else:
                out.append(Node(found))
            continue
        if name not in CHOICE_ELEMENTS:
            continue
        n = len(name)
        for key, item in value.items():
            if len(key) > n and key.startswith(name) and key[n:] in CHOICE_SUFFIXES:
                ftype = key[n].lower() + key[n + 1 :] if key[n:] not in _COMPLEX else key[n:]
                if type(item) is list:
                    out.extend(Node(sub, ftype) for sub in item)
                else:
                    out.append(Node(item, ftype))
    return out


def _apply(step: _Step, nodes: list[Node]) -> Iterator[Node]:
    if isinstance(step, _Field):
        name = step.name
        for node in nodes:
            value = node.value
            if not isinstance(value, dict):
                continue
            found = value.get(name)
            if found is not None:
                if isinstance(found, list):
                    for item in found:
                        yield Node(item)
                else:
                    yield Node(found)
                continue
            # a choice element: valueQuantity, onsetDateTime ...
            n = len(name)
            for key, item in value.items():
                if len(key) > n and key.startswith(name) and key[n:] in CHOICE_SUFFIXES:
                    ftype = key[n].lower() + key[n + 1 :] if key[n:] not in _COMPLEX else key[n:]
                    if isinstance(item, list):
                        for sub in item:
                            yield Node(sub, ftype)
                    else:
                        yield Node(item, ftype)
    elif isinstance(step, _Cast):
        wanted = step.type
        for node in nodes:
            if node.type is None or node.type == wanted or node.type.lower() == wanted.lower():
                if node.type is None and not _shape_is(node.value, wanted):
                    continue
                yield Node(node.value, wanted)
    elif isinstance(step, _ResolveIs):
        for node in nodes:
            ref = node.value.get("reference") if isinstance(node.value, dict) else None
            if isinstance(ref, str) and _reference_type(ref) == step.type:
                yield node
    elif isinstance(step, _Index):
        if len(nodes) > step.position:
            yield nodes[step.position]
    elif isinstance(step, _WhereEq):
        for node in nodes:
            if isinstance(node.value, dict) and node.value.get(step.field) == step.literal:
                yield node
    else:  # _Deceased
        for node in nodes:
            value = node.value
            if not isinstance(value, dict):
                continue
            flag = value.get("deceasedBoolean")
            if flag is not None:
                yield Node(bool(flag), "boolean")
            elif value.get("deceasedDateTime") is not None:
                yield Node(True, "boolean")


# Complex types keep their capitalised name; primitives are lower camel case (dateTime, string).
_COMPLEX = frozenset(
    s
    for s in CHOICE_SUFFIXES
    if s
    not in {
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "Date",
        "DateTime",
        "Decimal",
        "Id",
        "Instant",
        "Integer",
        "Markdown",
        "Oid",
        "PositiveInt",
        "String",
        "Time",
        "UnsignedInt",
        "Uri",
        "Url",
        "Uuid",
    }
)


def _shape_is(value: Any, wanted: str) -> bool:
    """Whether an element without a declared type looks like `wanted` (for non-choice casts)."""
    w = wanted.lower()
    if w in ("string", "uri", "canonical", "code", "date", "datetime"):
        return isinstance(value, str)
    if w == "boolean":
        return isinstance(value, bool)
    if not isinstance(value, dict):
        return False
    if w == "reference":
        return "reference" in value or "identifier" in value
    if w == "identifier":
        return "value" in value and "reference" not in value
    if w == "codeableconcept":
        return "coding" in value or "text" in value
    if w in ("quantity", "age", "duration"):
        return "value" in value
    if w == "range":
        return "low" in value or "high" in value
    if w == "period":
        return "start" in value or "end" in value
    return True


def _reference_type(ref: str) -> str | None:
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-2] if len(parts) >= 2 else None


def compile_path(expression: str) -> CompiledPath:
    """Compile one union term (no top-level `|`)."""
    expr = expression.strip()
    if expr.startswith("("):
        close = _matching_paren(expr)
        rest = expr[close + 1 :].strip()
        if rest.startswith("."):
            # `(X as T).field`: the parenthesised cast, then more steps
            head = compile_path(expr[: close + 1])
            more = compile_path("_" + rest)
            return CompiledPath(expression, head.root, head.steps + more.steps)
    deceased = _DECEASED_RE.match(expr)
    if deceased:
        return CompiledPath(expression, deceased.group(1), (_Deceased(),))
    cast = _CAST_RE.match(expr)
    tail: tuple[_Step, ...] = ()
    if cast:
        inner = cast.group(1) or cast.group(3)
        tail = (_Cast(cast.group(2) or cast.group(4)),)
        expr = inner.strip()
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    parts = _split_dots(expr)
    if not parts or not parts[0]:
        raise UnsupportedExpression(expression)
    root = parts[0]
    if root == "%resource":
        root = "Resource"
    elif not re.fullmatch(_IDENT, root):
        raise UnsupportedExpression(expression)
    steps: list[_Step] = []
    for part in parts[1:]:
        if re.fullmatch(_IDENT, part):
            steps.append(_Field(part))
        elif m := _INDEXED_RE.match(part):
            steps.extend((_Field(m.group(1)), _Index(int(m.group(2)))))
        elif m := _AS_FN_RE.match(part):
            steps.append(_Cast(m.group(1)))
        elif m := _RESOLVE_RE.match(part):
            steps.append(_ResolveIs(m.group(1)))
        elif m := _WHERE_EQ_RE.match(part):
            steps.append(_WhereEq(m.group(1), m.group(2)))
        else:
            raise UnsupportedExpression(expression)
    return CompiledPath(expression, root, (*steps, *tail))


def _matching_paren(expr: str) -> int:
    depth = 0
    for i, ch in enumerate(expr):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise UnsupportedExpression(expr)


def compile_relative(expression: str) -> CompiledPath:
    """Compile a composite component expression, relative to the composite's node."""
    expr = expression.strip()
    if expr.startswith("%resource."):
        return compile_path(expr)
    return compile_path("_." + expr)
