"""Loading an export file through the repository: rows mapped, grouped, committed in transactions.

Rows that belong together (`group_by`, e.g. the results of one specimen) commit together; many
groups share one transaction for speed. When a transaction fails, its groups are retried one by one
and, inside a group, the rows behind the failing entry are set aside with the repository's reason,
so that every good row is still loaded and every bad one is reported with its line.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.ingest.tabular.mapper import (
    CodeLookup,
    MappedResource,
    MappedRow,
    RowError,
    bind_columns,
    map_row,
)
from healthbrain.ingest.tabular.reader import FileProblem, read_sheet
from healthbrain.ingest.tabular.spec import MappingSpec
from healthbrain.ingest.tabular.transforms import is_blank

log = logging.getLogger("healthbrain.ingest.tabular")
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
Sightings = Callable[[list[tuple[str, str, dict[str, Any]]]], None]


@dataclass(slots=True)
class TabularSummary:
    """What one file did: rows read and loaded, resources per type and outcome, every error located."""

    file: str
    kind: str = "csv"
    encoding: str | None = None
    sheet: str | None = None
    rows: int = 0
    loaded_rows: int = 0
    resources: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    file_error: FileProblem | None = None
    ignored_headers: tuple[str, ...] = ()
    transactions: int = 0
    seconds: float = 0.0

    @property
    def failed_rows(self) -> int:
        return len({e.line for e in self.errors})


@dataclass(slots=True)
class _Batch:
    groups: list[list[MappedRow]] = field(default_factory=list)
    rows: int = 0


def ingest_table(
    repo: FhirRepository,
    ctx: RequestContext,
    path: Path,
    spec: MappingSpec,
    *,
    codes: CodeLookup | None = None,
    sightings: Sightings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TabularSummary:
    """Load one CSV/Excel export with `spec`; never raises for bad input (see `file_error` and `errors`).

    `sightings` receives (type, id, resource) of each written resource, for the review queue of
    unmapped local codes.
    """
    started = time.perf_counter()
    summary = TabularSummary(path.name)
    try:
        sheet = read_sheet(path, spec.source)
        binding = bind_columns(spec, sheet, path.name)
    except FileProblem as err:
        summary.file_error = err
        summary.seconds = time.perf_counter() - started
        return summary
    summary.kind, summary.encoding, summary.sheet = sheet.kind, sheet.encoding, sheet.sheet
    summary.ignored_headers = binding.ignored
    file_key = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    groups: dict[tuple[str, ...], list[MappedRow]] = {}
    for row in sheet.rows:
        if all(is_blank(c) for c in row.cells):
            continue
        summary.rows += 1
        mapped = map_row(spec, binding, sheet, row, codes, file_key)
        if isinstance(mapped, list):
            summary.errors.extend(mapped)
        else:
            groups.setdefault(mapped.group, []).append(mapped)
    batch = _Batch()
    done = 0
    for group in groups.values():
        batch.groups.append(group)
        batch.rows += len(group)
        if batch.rows >= spec.batch_rows:
            done += _commit(repo, ctx, batch.groups, summary, sightings)
            batch = _Batch()
            if progress is not None:
                progress(done, summary.rows)
    if batch.groups:
        done += _commit(repo, ctx, batch.groups, summary, sightings)
    if progress is not None:
        progress(summary.rows, summary.rows)
    summary.errors.sort(key=lambda e: (e.line, e.column_label or ""))
    summary.seconds = time.perf_counter() - started
    log.info(
        "tabular.ingested",
        extra={
            "fields": {
                "rows": summary.rows,
                "loaded": summary.loaded_rows,
                "errors": len(summary.errors),
                "spec": spec.name,
            }
        },
    )
    return summary


def _merge(entries: dict[str, MappedResource], lines: dict[str, list[int]], row: MappedRow) -> None:
    for res in row.resources:
        lines.setdefault(res.key, []).append(row.line)
        known = entries.get(res.key)
        if known is None:
            entries[res.key] = res
            continue
        for element in res.collect:  # e.g. DiagnosticReport.result gathers every row's Observation
            merged = list(known.resource.get(element) or [])
            merged += [x for x in res.resource.get(element) or [] if x not in merged]
            if merged:
                known.resource[element] = merged


def _bundle(groups: list[list[MappedRow]]) -> tuple[dict[str, Any], list[list[int]], list[MappedResource]]:
    entries: dict[str, MappedResource] = {}
    lines: dict[str, list[int]] = {}
    for group in groups:
        for row in group:
            _merge(entries, lines, _fresh(row))
    ordered = list(entries.values())
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": r.urn, "resource": r.resource, "request": r.request()} for r in ordered],
    }
    return bundle, [lines[r.key] for r in ordered], ordered


def _fresh(row: MappedRow) -> MappedRow:
    """A deep copy of the row's resources: the transaction rewrites references in place, and a retry
    after a failed transaction must start from the row as it was mapped (orjson: ~10x deepcopy)."""
    return MappedRow(
        row.line,
        row.group,
        tuple(
            MappedResource(
                r.name,
                r.resource_type,
                r.key,
                r.urn,
                orjson.loads(orjson.dumps(r.resource)),
                r.identity,
                r.on_existing,
                r.collect,
            )
            for r in row.resources
        ),
    )


def _commit(
    repo: FhirRepository,
    ctx: RequestContext,
    groups: list[list[MappedRow]],
    summary: TabularSummary,
    sightings: Sightings | None,
) -> int:
    """Commit the groups together; on failure, each group alone. Returns the rows handled."""
    try:
        _write(repo, ctx, groups, summary, sightings)
    except HealthBrainError:
        if len(groups) == 1:
            _commit_group(repo, ctx, groups[0], summary, sightings)
        else:
            for group in groups:
                _commit_group(repo, ctx, group, summary, sightings)
    return sum(len(g) for g in groups)


def _commit_group(
    repo: FhirRepository,
    ctx: RequestContext,
    group: list[MappedRow],
    summary: TabularSummary,
    sightings: Sightings | None,
) -> None:
    rows = list(group)
    while rows:
        try:
            _write(repo, ctx, [rows], summary, sightings)
            return
        except HealthBrainError as err:
            _, lines, _ = _bundle([rows])
            bad = _failed_lines(err, lines) or {r.line for r in rows}
            message = _reason(err)
            for line in sorted(bad):
                summary.errors.append(RowError(line, None, None, err.code, message))
            rows = [r for r in rows if r.line not in bad]


def _failed_lines(err: HealthBrainError, lines: list[list[int]]) -> set[int]:
    """The rows behind the entry the error names; a resource shared by every row fails them all."""
    for issue in err.issues:
        m = _ENTRY.search(issue.expression or "") or _ENTRY.search(issue.diagnostics or "")
        if m and int(m.group(1)) < len(lines):
            return set(lines[int(m.group(1))])
    m = _ENTRY.search(err.message)
    if m and int(m.group(1)) < len(lines):
        return set(lines[int(m.group(1))])
    return set()


def _reason(err: HealthBrainError) -> str:
    first = err.issues[0] if err.issues else None
    text = first.diagnostics if first is not None else err.message
    expression = first.expression if first is not None and first.expression else ""
    element = re.sub(r"^Bundle\.entry\[\d+\]\.resource\.?", "", expression)
    return f"{text} ({element})" if element and element not in text else text


def _write(
    repo: FhirRepository,
    ctx: RequestContext,
    groups: list[list[MappedRow]],
    summary: TabularSummary,
    sightings: Sightings | None,
) -> None:
    bundle, _lines, ordered = _bundle(groups)
    started = time.time()
    results = process_transaction(repo, ctx, bundle)
    summary.transactions += 1
    summary.loaded_rows += sum(len(g) for g in groups)
    written: list[tuple[str, str, dict[str, Any]]] = []
    for res, result in zip(ordered, results, strict=True):
        v = result.versioned
        if result.status.startswith("201"):
            outcome = "created"
        elif v is not None and v.last_updated >= started:
            outcome = "updated"
        else:
            outcome = "unchanged"
        summary.outcomes[outcome] += 1
        summary.resources[res.resource_type] += 1
        if v is not None and outcome != "unchanged":
            written.append((res.resource_type, v.id, res.resource))
    if sightings is not None and written:
        sightings(written)


def describe(summary: TabularSummary) -> str:
    """A one-line account of a file's load (ids and counts only)."""
    return (
        f"{summary.file}: {summary.rows} rows, {summary.loaded_rows} loaded, "
        f"{summary.failed_rows} with errors, "
        f"{sum(summary.resources.values())} resources in {summary.transactions} transactions"
    )
