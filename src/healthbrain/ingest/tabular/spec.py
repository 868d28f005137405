"""Mapping specs: the declarative YAML that says how a HIS/LIS export table becomes FHIR resources.

A spec names the export's columns (header aliases, type, transform), the resources one row makes
(templates with `$col`, `$ref`, `$format`, `$value`, `$quantity`, `$range`), how each resource is
recognised again (`identity`: an identifier, so reruns update instead of duplicating) and which rows
belong together (`group_by`). Every problem in a spec is reported with its key path.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.fhir.types import is_resource_type

COLUMN_TYPES = frozenset(
    {"text", "integer", "decimal", "date", "datetime", "boolean", "code", "id-card", "unit", "concept"}
)
DIRECTIVES = frozenset({"$col", "$ref", "$format", "$value", "$quantity", "$range"})
ENCODINGS = frozenset({"auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "utf-16"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TZ = re.compile(r"^(Z|[+-](0\d|1[0-4]):[0-5]\d)$")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the export: its header (or aliases), type and transform."""

    name: str
    headers: tuple[str, ...]
    type: str = "text"
    required: bool = False
    values: Mapping[str, Any] | None = None  # `code`: export value → FHIR code
    default: Any = None
    system: str | None = None  # `concept`: the system of the codes in this column
    display: str | None = None  # `concept`: the column holding the code's name
    translate: str | None = None  # `concept`: add the standard code of this system (terminology $translate)
    validate: bool = False  # `concept`: the code must exist in its (loaded) code system
    language: str | None = None  # `concept`: the display language taken from the terminology


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One resource a row makes."""

    name: str
    resource_type: str
    template: Any
    identity: Mapping[str, Any] | None = None  # {system, value} templates of the recognising identifier
    on_existing: str = "replace"  # replace (conditional update) | keep (conditional create)
    when: tuple[str, ...] = ()  # columns that must have a value for the resource to be made
    collect: tuple[str, ...] = ()  # list elements gathered from every row of a group


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How the file is read."""

    encoding: str = "auto"
    delimiter: str = ","
    sheet: str | None = None
    header_row: int = 1
    timezone: str = "+08:00"


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A whole mapping spec."""

    name: str
    title: str
    institution: str
    source: SourceSpec
    columns: Mapping[str, ColumnSpec]
    resources: tuple[ResourceSpec, ...]
    group_by: tuple[str, ...]
    vars: Mapping[str, str]
    batch_rows: int = 500


class SpecError(InvalidInput):
    code = "tabular.invalid_spec"


def _bad(where: str, message: str) -> SpecError:
    text = f"{where}: {message}"
    return SpecError(text, issues=[Issue("error", "invalid", message, where)])


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise _bad(where, "expected a name or a list of names")


def _column(name: str, raw: Any, where: str) -> ColumnSpec:
    if isinstance(raw, str):
        raw = {"header": raw}
    if not isinstance(raw, dict):
        raise _bad(where, "a column needs at least a header")
    if not _NAME.match(name):
        raise _bad(where, "column names are lower-case letters, digits and _")
    unknown = set(raw) - {
        "header",
        "type",
        "required",
        "map",
        "default",
        "system",
        "display",
        "translate",
        "validate",
        "language",
    }
    if unknown:
        raise _bad(f"{where}.{sorted(unknown)[0]}", "unknown setting")
    headers = _as_tuple(raw.get("header"), f"{where}.header")
    if not headers:
        raise _bad(f"{where}.header", "the header text of the column is required")
    kind = str(raw.get("type") or ("code" if raw.get("map") else "text"))
    if kind not in COLUMN_TYPES:
        raise _bad(f"{where}.type", f"unknown type '{kind}' (one of {', '.join(sorted(COLUMN_TYPES))})")
    values = raw.get("map")
    if values is not None and not isinstance(values, dict):
        raise _bad(f"{where}.map", "map must map export values to FHIR codes")
    if kind == "code" and not values:
        raise _bad(f"{where}.map", "a code column needs a map of export values to FHIR codes")
    if kind == "concept" and not raw.get("system"):
        raise _bad(f"{where}.system", "a concept column needs the system of its codes")
    return ColumnSpec(
        name=name,
        headers=headers,
        type=kind,
        required=bool(raw.get("required")),
        values=MappingProxyType({_key(k): v for k, v in values.items()}) if values else None,
        default=raw.get("default"),
        system=_opt(raw.get("system")),
        display=_opt(raw.get("display")),
        translate=_opt(raw.get("translate")),
        validate=bool(raw.get("validate")),
        language=_opt(raw.get("language")),
    )


def _key(value: Any) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", str(value)).strip().lower()


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def walk_directives(node: Any, where: str) -> Iterator[tuple[str, Any, str]]:
    """Every directive (name, argument, location) in a template."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in DIRECTIVES or key == "$when":
                yield key, value, f"{where}.{key}"
            else:
                yield from walk_directives(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk_directives(item, f"{where}[{i}]")


def template_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in DIRECTIVES:
                yield from template_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from template_strings(item)


def _resource(raw: Any, where: str) -> ResourceSpec:
    if not isinstance(raw, dict):
        raise _bad(where, "a resource needs name, type and template")
    name, rtype = str(raw.get("name") or ""), str(raw.get("type") or "")
    if not _NAME.match(name):
        raise _bad(f"{where}.name", "a resource needs a name (lower-case letters, digits, _)")
    if not is_resource_type(rtype):
        raise _bad(f"{where}.type", f"'{rtype}' is not a FHIR R4 resource type")
    template = raw.get("template")
    if not isinstance(template, dict):
        raise _bad(f"{where}.template", "the template must be the resource's elements")
    identity = raw.get("identity")
    if identity is not None and (not isinstance(identity, dict) or not {"system", "value"} <= set(identity)):
        raise _bad(f"{where}.identity", "identity needs the identifier's system and value")
    on_existing = str(raw.get("on_existing") or ("keep" if rtype == "Patient" else "replace"))
    if on_existing not in ("keep", "replace"):
        raise _bad(f"{where}.on_existing", "on_existing is keep or replace")
    return ResourceSpec(
        name,
        rtype,
        template,
        MappingProxyType(identity) if identity else None,
        on_existing,
        _as_tuple(raw.get("when"), f"{where}.when"),
        _as_tuple(raw.get("collect"), f"{where}.collect"),
    )


def _source(raw: Any) -> SourceSpec:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise _bad("source", "source must be a mapping")
    encoding = str(raw.get("encoding") or "auto").lower()
    if encoding not in ENCODINGS:
        raise _bad("source.encoding", f"unknown encoding '{encoding}'")
    delimiter = str(raw.get("delimiter") or ",")
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise _bad("source.delimiter", "the delimiter is one character")
    header_row = raw.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        raise _bad("source.header_row", "header_row is a line number from 1")
    timezone = str(raw.get("timezone") or "+08:00")
    if not _TZ.match(timezone):
        raise _bad("source.timezone", "timezone looks like +08:00")
    return SourceSpec(encoding, delimiter, _opt(raw.get("sheet")), header_row, timezone)


def _check_references(spec: MappingSpec) -> None:
    names = {r.name for r in spec.resources}
    if len(names) != len(spec.resources):
        raise _bad("resources", "resource names must be unique")
    for i, res in enumerate(spec.resources):
        where = f"resources[{i}]"
        parts = [(res.template, f"{where}.template"), (dict(res.identity or {}), f"{where}.identity")]
        for node, loc in parts:
            for directive, arg, at in walk_directives(node, loc):
                _check_directive(spec, names, res, directive, arg, at)
            for text in template_strings(node):
                _check_vars(spec, text, loc)
        for name in res.when:
            if name not in spec.columns:
                raise _bad(f"{where}.when", f"unknown column '{name}'")
    for name in spec.group_by:
        if name not in spec.columns:
            raise _bad("group_by", f"unknown column '{name}'")
    for name, column in spec.columns.items():
        if column.display and column.display not in spec.columns:
            raise _bad(f"columns.{name}.display", f"unknown column '{column.display}'")


def _check_directive(
    spec: MappingSpec, names: set[str], res: ResourceSpec, directive: str, arg: Any, at: str
) -> None:
    def column(value: Any, where: str) -> None:
        if not isinstance(value, str) or value not in spec.columns:
            raise _bad(where, f"unknown column '{value}'")

    if directive in ("$col", "$when", "$value"):
        column(arg, at)
    elif directive == "$ref":
        if arg not in names or arg == res.name:
            raise _bad(at, f"'{arg}' is not another resource of this spec")
    elif directive == "$format":
        if not isinstance(arg, str):
            raise _bad(at, "$format takes a text with {column} fields")
        for _, field, _, _ in string.Formatter().parse(arg):
            if field and field not in spec.columns and field not in spec.vars:
                raise _bad(at, f"unknown column or variable '{field}'")
    elif directive in ("$quantity", "$range"):
        if not isinstance(arg, dict) or "value" not in arg:
            raise _bad(at, f"{directive} takes value (and unit) columns")
        for key in ("value", "unit"):
            if key in arg:
                column(arg[key], f"{at}.{key}")


def _check_vars(spec: MappingSpec, text: str, where: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError as exc:
        raise _bad(where, "unbalanced { } in a text (write {{ for a literal brace)") from exc
    for field in fields:
        if field not in spec.vars:
            raise _bad(where, f"unknown variable '{field}'")


def parse_spec(data: Any, source: str = "spec") -> MappingSpec:
    """A MappingSpec from its YAML form; raises SpecError with the key path of the first problem."""
    if not isinstance(data, dict):
        raise _bad(source, "a mapping spec is a YAML mapping")
    institution = str(data.get("institution") or "")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9\-.]{0,63}$", institution):
        raise _bad("institution", "the id of the Organization whose export this is")
    columns_raw = data.get("columns")
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise _bad("columns", "columns maps names to the export's headers")
    columns = {str(k): _column(str(k), v, f"columns.{k}") for k, v in columns_raw.items()}
    raw_resources = data.get("resources")
    if not isinstance(raw_resources, list) or not raw_resources:
        raise _bad("resources", "resources lists what each row makes")
    variables = {"institution": institution}
    for key, value in (data.get("vars") or {}).items():
        variables[str(key)] = str(value).format_map(variables)
    batch = data.get("batch_rows", 500)
    if not isinstance(batch, int) or not 1 <= batch <= 5000:
        raise _bad("batch_rows", "batch_rows is between 1 and 5000")
    spec = MappingSpec(
        name=str(data.get("name") or source),
        title=str(data.get("title") or data.get("name") or source),
        institution=institution,
        source=_source(data.get("source")),
        columns=MappingProxyType(columns),
        resources=tuple(_resource(r, f"resources[{i}]") for i, r in enumerate(raw_resources)),
        group_by=_as_tuple(data.get("group_by"), "group_by"),
        vars=MappingProxyType(variables),
        batch_rows=batch,
    )
    _check_references(spec)
    return spec


def load_spec(path: Path) -> MappingSpec:
    """Read a YAML spec file; unreadable YAML is reported with its line and column."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise _bad(f"{path.name} {where}", "not valid YAML") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _bad(path.name, f"not a readable YAML file ({type(exc).__name__})") from exc
    return parse_spec(data, path.stem)
