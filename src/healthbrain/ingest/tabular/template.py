"""Rendering a resource template for one row: directives replaced by the row's values, empty parts dropped.

Directives: `{$col: name}` the column's converted value; `{$ref: resource}` a reference to another
resource of the row; `{$format: "{a}-{b}"}` text from raw column values and variables;
`value[x]: {$value: col, unit: col}` a Quantity (numbers, `<0.5`) or a string (阴性);
`{$quantity: {value: col, unit: col}}`; `{$range: {value: col, unit: col}}` a referenceRange.
An object whose directives all came out empty is dropped, and so is one with `$when: col` when the
column is empty, so optional columns need no special casing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.ingest.tabular.spec import DIRECTIVES
from healthbrain.ingest.tabular.transforms import CellError, Unit, parse_range, parse_result, quantity


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class RowValues:
    """A row's converted values by column name (MISSING when empty), raw texts, and the row's references."""

    values: Mapping[str, Any]
    raw: Mapping[str, str]
    refs: Mapping[str, str]
    vars: Mapping[str, str]
    columns: Mapping[str, int]  # column name → its index in the file, for error locations


class TemplateError(ValueError):
    """A value the template cannot use, located at the column it came from."""

    def __init__(self, column: str, error: CellError) -> None:
        super().__init__(error.message)
        self.column = column
        self.error = error


def has_directive(node: Any) -> bool:
    if isinstance(node, dict):
        return any(k in DIRECTIVES or k == "$when" or has_directive(v) for k, v in node.items())
    if isinstance(node, list):
        return any(has_directive(i) for i in node)
    return False


def _unit(row: RowValues, column: Any) -> Unit | None:
    if not column:
        return None
    value = row.values.get(str(column), MISSING)
    return value if isinstance(value, Unit) else None


def _number(row: RowValues, column: str) -> tuple[str | None, float | int] | None:
    value = row.values.get(column, MISSING)
    if value is MISSING:
        return None
    return parse_result(row.raw.get(column, value) if not isinstance(value, int | float) else value)


def _directive(node: dict[str, Any], row: RowValues) -> Any:
    if "$col" in node:
        value = row.values.get(node["$col"], MISSING)
        return copy.deepcopy(value) if isinstance(value, dict | list) else value
    if "$ref" in node:
        urn = row.refs.get(node["$ref"])
        return {"reference": urn} if urn else MISSING
    if "$format" in node:
        return _format(node["$format"], row)
    if "$value" in node:
        column = node["$value"]
        if row.values.get(column, MISSING) is MISSING:
            return MISSING
        parsed = _number(row, column)
        if parsed is None:
            return ("String", row.raw[column])
        return ("Quantity", quantity(parsed[1], _unit(row, node.get("unit")), parsed[0]))
    if "$quantity" in node:
        arg = node["$quantity"]
        column = str(arg["value"])
        if row.values.get(column, MISSING) is MISSING:
            return MISSING
        parsed = _number(row, column)
        if parsed is None:
            raise TemplateError(
                column, CellError("tabular.bad_number", "expected a number such as 5.6 or <0.5")
            )
        return quantity(parsed[1], _unit(row, arg.get("unit")), parsed[0])
    arg = node["$range"]
    column = str(arg["value"])
    if row.values.get(column, MISSING) is MISSING:
        return MISSING
    return parse_range(row.raw[column], _unit(row, arg.get("unit")))


def _format(pattern: str, row: RowValues) -> Any:
    import string

    fields: dict[str, str] = {}
    for _, name, _, _ in string.Formatter().parse(pattern):
        if not name:
            continue
        if name in row.vars:
            fields[name] = row.vars[name]
        elif row.values.get(name, MISSING) is MISSING:
            return MISSING
        else:
            fields[name] = row.raw[name]
    return pattern.format_map(fields)


def render(node: Any, row: RowValues) -> Any:
    """The template `node` filled in for `row` (MISSING when nothing of it remains)."""
    if isinstance(node, dict):
        if any(k in DIRECTIVES for k in node):
            return _directive(node, row)
        if "$when" in node and row.values.get(node["$when"], MISSING) is MISSING:
            return MISSING
        out: dict[str, Any] = {}
        dynamic = produced = False
        for key, child in node.items():
            if key == "$when":
                continue
            is_dynamic = has_directive(child)
            dynamic = dynamic or is_dynamic
            value = render(child, row)
            if value is MISSING:
                continue
            produced = produced or is_dynamic
            if key.endswith("[x]") and isinstance(value, tuple):
                out[key[:-3] + value[0]] = value[1]
            else:
                out[key] = value
        if not out or (dynamic and not produced):
            return MISSING
        return out
    if isinstance(node, list):
        items = [v for v in (render(i, row) for i in node) if v is not MISSING]
        return items or MISSING
    if isinstance(node, str):
        return node.format_map(row.vars) if "{" in node else node
    return node
