"""One row in, its resources out: headers bound, cells converted, codes looked up, templates rendered.

Pure given the `CodeLookup` (the terminology service in production). Every problem of a row is
collected with its line and column before the row is given up, so one pass shows them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from healthbrain.ingest.tabular.reader import Sheet, SourceRow, clean_header, problem
from healthbrain.ingest.tabular.spec import ColumnSpec, MappingSpec, ResourceSpec
from healthbrain.ingest.tabular.template import MISSING, RowValues, TemplateError, render
from healthbrain.ingest.tabular.transforms import (
    CellError,
    is_blank,
    normalise,
    parse_boolean,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_id_card,
    parse_integer,
    parse_unit,
)

NAMESPACE = uuid.UUID("6f2f4b0e-63a4-4c3e-9d77-0b4f3c1d2a10")


class CodeLookup(Protocol):
    """What the mapping needs of the terminology service."""

    def translate(self, system: str, code: str, target_system: str) -> list[dict[str, Any]]:
        """The target-system codings `system|code` maps to (empty when unmapped)."""

    def display(self, system: str, code: str, language: str | None) -> tuple[bool | None, str | None, str]:
        """(is the code in the system — None when the system is not loaded, its display, its exact code)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem of one row (or of the file), located so that a person can find the cell."""

    line: int
    column: str | None  # the header text
    column_label: str | None  # Excel letter or CSV column number
    code: str
    message: str

    def location(self, kind: str = "csv") -> str:
        where = f"{'row' if kind == 'excel' else 'line'} {self.line}"
        if self.column is not None:
            where += f", column {self.column_label} ({self.column})"
        return where


@dataclass(frozen=True, slots=True)
class MappedResource:
    """A resource of a row, with how it is written and recognised again."""

    name: str
    resource_type: str
    key: str
    urn: str
    resource: dict[str, Any]
    identity: tuple[str, str] | None
    on_existing: str
    collect: tuple[str, ...]

    def request(self) -> dict[str, Any]:
        """The Bundle entry request: conditional create/update by identifier, or a plain create."""
        if self.identity is None:
            return {"method": "POST", "url": self.resource_type}
        token = "identifier=" + quote(f"{self.identity[0]}|{self.identity[1]}", safe=":/|")
        if self.on_existing == "keep":
            return {"method": "POST", "url": self.resource_type, "ifNoneExist": token}
        return {"method": "PUT", "url": f"{self.resource_type}?{token}"}


@dataclass(frozen=True, slots=True)
class MappedRow:
    line: int
    group: tuple[str, ...]
    resources: tuple[MappedResource, ...]


@dataclass(frozen=True, slots=True)
class Binding:
    """Which file column holds each spec column (None: the optional column is absent)."""

    indexes: Mapping[str, int | None]
    headers: tuple[str, ...]
    ignored: tuple[str, ...] = field(default=())


def bind_columns(spec: MappingSpec, sheet: Sheet, source: str) -> Binding:
    """Match the header row to the spec; every missing required or ambiguous header is reported at once."""
    positions: dict[str, list[int]] = {}
    for i, text in enumerate(sheet.headers):
        if clean_header(text):
            positions.setdefault(clean_header(text), []).append(i)
    indexes: dict[str, int | None] = {}
    problems: list[str] = []
    for name, col in spec.columns.items():
        found = [i for h in col.headers for i in positions.get(clean_header(h), [])]
        if len(set(found)) > 1:
            problems.append(f"the header '{col.headers[0]}' appears more than once")
        if not found and col.required:
            problems.append(f"the required column '{' / '.join(col.headers)}' is missing")
        indexes[name] = found[0] if found else None
    if problems:
        where = f"{source} {'row' if sheet.kind == 'excel' else 'line'} {sheet.header_line}"
        raise problem("tabular.bad_header", "; ".join(problems), where)
    used = {i for i in indexes.values() if i is not None}
    ignored = tuple(h for i, h in enumerate(sheet.headers) if i not in used and h.strip())
    return Binding(indexes, tuple(sheet.headers), ignored)


def _convert(col: ColumnSpec, cell: Any, spec: MappingSpec) -> Any:
    kind = col.type
    if kind == "text":
        return normalise(cell)
    if kind == "integer":
        return parse_integer(cell)
    if kind == "decimal":
        return parse_decimal(cell)
    if kind == "date":
        return parse_date(cell)
    if kind == "datetime":
        return parse_datetime(cell, spec.source.timezone)
    if kind == "boolean":
        return parse_boolean(cell)
    if kind == "id-card":
        return parse_id_card(cell)
    if kind == "unit":
        return parse_unit(cell)
    assert col.values is not None  # code
    key = normalise(cell).lower()
    if key in col.values:
        return col.values[key]
    if col.default is not None:
        return col.default
    raise CellError(
        "tabular.unknown_value", f"not one of the values this column may hold: {', '.join(col.values)}"
    )


def _concept(
    col: ColumnSpec, code: str, display: str | None, spec: MappingSpec, codes: CodeLookup | None
) -> dict[str, Any]:
    system = str(col.system).format_map(spec.vars)
    local: dict[str, Any] = {"system": system, "code": code}
    codings: list[dict[str, Any]] = []
    if col.translate:
        codings += codes.translate(system, code, col.translate) if codes is not None else []
    if col.validate or (not display and codes is not None):
        found = codes.display(system, code, col.language) if codes is not None else (None, None, code)
        known, shown, exact = found
        if col.validate and known is False:
            raise CellError("tabular.unknown_code", f"not a code of {system}")
        if col.validate and known is None:
            raise CellError("tabular.unknown_system", f"the code system {system} is not loaded")
        display = display or shown
        local["code"] = exact  # i10 → I10 in a case-insensitive system
    if display:
        local["display"] = display
    concept: dict[str, Any] = {"coding": [*codings, local]}
    if display:
        concept["text"] = display
    return concept


def convert_row(
    spec: MappingSpec, binding: Binding, sheet: Sheet, row: SourceRow, codes: CodeLookup | None
) -> tuple[dict[str, Any], dict[str, str], list[RowError]]:
    """(values by column, raw texts by column, errors) of one row."""
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    errors: list[RowError] = []
    if len(row.cells) > len(sheet.headers) and any(not is_blank(c) for c in row.cells[len(sheet.headers) :]):
        errors.append(
            RowError(
                row.line,
                None,
                sheet.column_label(len(sheet.headers)),
                "tabular.extra_cells",
                f"the row has {len(row.cells)} cells but the header only {len(sheet.headers)}",
            )
        )
    concept_columns = []
    for name, col in spec.columns.items():
        index = binding.indexes.get(name)
        cell = row.cells[index] if index is not None and index < len(row.cells) else None
        if is_blank(cell):
            values[name] = MISSING
            if col.required:
                errors.append(
                    _cell_error(sheet, row, binding, index, col, "tabular.required", "a value is required")
                )
            continue
        raw[name] = normalise(cell)
        if col.type == "concept":
            concept_columns.append((name, col, index))
            continue
        try:
            values[name] = _convert(col, cell, spec)
        except CellError as err:
            values[name] = MISSING
            errors.append(_cell_error(sheet, row, binding, index, col, err.code, err.message))
    for name, col, index in concept_columns:  # after the others: the display may come from another column
        shown = raw.get(col.display) if col.display else None
        try:
            values[name] = _concept(col, raw[name], shown, spec, codes)
        except CellError as err:
            values[name] = MISSING
            errors.append(_cell_error(sheet, row, binding, index, col, err.code, err.message))
    return values, raw, errors


def _cell_error(
    sheet: Sheet,
    row: SourceRow,
    binding: Binding,
    index: int | None,
    col: ColumnSpec,
    code: str,
    message: str,
) -> RowError:
    header = binding.headers[index] if index is not None else col.headers[0]
    label = sheet.column_label(index) if index is not None else None
    return RowError(row.line, header, label, code, message)


def _identity(res: ResourceSpec, row: RowValues) -> tuple[str, str] | None:
    if res.identity is None:
        return None
    system, value = render(res.identity["system"], row), render(res.identity["value"], row)
    if system is MISSING or value is MISSING:
        return None
    return str(system), str(value)


def map_row(
    spec: MappingSpec, binding: Binding, sheet: Sheet, row: SourceRow, codes: CodeLookup | None, file_key: str
) -> MappedRow | list[RowError]:
    """The resources of one row, or every problem that stops it."""
    values, raw, errors = convert_row(spec, binding, sheet, row, codes)
    if errors:
        return errors
    columns = {n: i for n, i in binding.indexes.items() if i is not None}
    base = RowValues(values, raw, {}, spec.vars, columns)
    made: list[tuple[ResourceSpec, str, tuple[str, str] | None]] = []
    for res in spec.resources:
        if any(values.get(c, MISSING) is MISSING for c in res.when):
            continue
        identity = _identity(res, base)
        if res.identity is not None and identity is None:
            continue
        key = (
            f"{res.resource_type}|{identity[0]}|{identity[1]}"
            if identity
            else f"{file_key}|{row.line}|{res.name}"
        )
        made.append((res, key, identity))
    refs = {res.name: f"urn:uuid:{uuid.uuid5(NAMESPACE, key)}" for res, key, _ in made}
    row_values = RowValues(values, raw, refs, spec.vars, columns)
    out: list[MappedResource] = []
    for res, key, identity in made:
        try:
            body = render(res.template, row_values)
        except TemplateError as err:
            index = columns.get(err.column)
            return [
                _cell_error(
                    sheet, row, binding, index, spec.columns[err.column], err.error.code, err.error.message
                )
            ]
        resource = {"resourceType": res.resource_type, **(body if body is not MISSING else {})}
        if identity is not None:
            _ensure_identifier(resource, identity)
        out.append(
            MappedResource(
                res.name,
                res.resource_type,
                key,
                refs[res.name],
                resource,
                identity,
                res.on_existing,
                res.collect,
            )
        )
    group = tuple(raw.get(c, "") for c in spec.group_by) if spec.group_by else (f"line {row.line}",)
    return MappedRow(row.line, group, tuple(out))


def _ensure_identifier(resource: dict[str, Any], identity: tuple[str, str]) -> None:
    """The recognising identifier is always stored, so that the next run finds the resource again."""
    identifiers = resource.setdefault("identifier", [])
    if isinstance(
        identifiers, dict
    ):  # Observation.identifier is a list, Encounter.identifier too; be lenient
        identifiers = resource["identifier"] = [identifiers]
    if not any(i.get("system") == identity[0] and i.get("value") == identity[1] for i in identifiers):
        identifiers.append({"system": identity[0], "value": identity[1]})
