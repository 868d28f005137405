"""`healthbrain terminology ...`: load the shipped terminology content, list the review queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from healthbrain.cli.wiring import open_repository
from healthbrain.core.context import system_context
from healthbrain.core.errors import HealthBrainError
from healthbrain.terminology import (
    DiagnosisCode,
    DrugCode,
    LabCode,
    RegionCodes,
    ReviewStore,
    load_content,
    load_local_table,
    local_resources,
    region_content,
    shipped_local_tables,
)

app = typer.Typer(
    help="Terminology: ICD-10, LOINC and drug codes, local-code maps, the review queue.", no_args_is_help=True
)
console = Console()
VITALS = ("HEART_RATE", "BODY_TEMP", "BODY_WEIGHT", "BODY_HEIGHT", "BMI")
BP = ("BP_PANEL", "BP_SYSTOLIC", "BP_DIASTOLIC")


def region_codes() -> RegionCodes:
    """The code tables the simulator (and so the demo region) uses, as terminology records."""
    from healthbrain.simulation import codes as sim

    observations: list[LabCode] = []
    for name, value in vars(sim).items():
        if isinstance(value, sim.Quantity):
            kind = "vital-signs" if name in VITALS else "laboratory"
            observations.append(LabCode(value.loinc, value.display, value.unit, kind))
        elif name in BP:
            code, display = value
            observations.append(
                LabCode(code, display, None if name == "BP_PANEL" else "mm[Hg]", "vital-signs")
            )
        elif name.startswith("PANEL_"):
            code, display = value
            observations.append(LabCode(code, display, None, "panel"))
    diagnoses = [
        DiagnosisCode(v.code, v.display, v.notifiable)
        for v in vars(sim).values()
        if isinstance(v, sim.Diagnosis)
    ]
    drugs = [DrugCode(d.code, d.name, d.atc, d.unit) for d in sim.DRUGS.values()]
    return RegionCodes(tuple(observations), tuple(diagnoses), tuple(drugs))


def shipped_resources(local_maps: list[Path], shipped_local: bool = True) -> list[dict[str, Any]]:
    """Everything `terminology load` writes: the region's content, then each institution's local tables."""
    tables = shipped_local_tables() if shipped_local else []
    tables += [load_local_table(p) for p in local_maps]
    resources = region_content(region_codes())
    for table in tables:
        resources.extend(local_resources(table))
    return resources


def load(
    local_map: Annotated[
        list[Path] | None, typer.Option("--local-map", help="a YAML local-code map (repeatable)")
    ] = None,
    shipped_local: Annotated[
        bool, typer.Option(help="also load the example institutions' local maps")
    ] = True,
    validate: Annotated[bool, typer.Option(help="validate every resource against the R4B models")] = True,
) -> None:
    """Load ICD-10, the region's LOINC and drug codes, value sets and local-code maps."""

    for path in local_map or []:
        if not path.is_file():
            console.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    try:
        resources = shipped_resources(list(local_map or []), shipped_local)
        repo = open_repository(validate=validate)
        summary = load_content(repo, system_context(), resources)
    except HealthBrainError as err:
        where = err.issues[0].expression if err.issues and err.issues[0].expression else ""
        console.print(f"[red]{err.code}[/red] {where} {err.message}")
        raise typer.Exit(1) from err
    table = Table("resource", "concepts / elements", title="terminology loaded")
    for resource, ref in zip(resources, summary.resources, strict=True):
        size = len(resource.get("concept") or ()) or sum(
            len(g.get("element") or ()) for g in resource.get("group") or ()
        )
        table.add_row(ref, f"{size:,}" if size else "")
    console.print(table)
    console.print(", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items())))


def reviews(
    status: Annotated[str, typer.Option(help="open | resolved | dismissed")] = "open",
    institution: Annotated[str | None, typer.Option(help="only this institution's codes")] = None,
    limit: int = 50,
) -> None:
    """List the local codes waiting for a standard code (resolve them through the API)."""

    repo = open_repository()
    items, total = ReviewStore(repo.engine).page(status=status, institution=institution, limit=limit)
    table = Table("id", "institution", "system", "code", "name", "seen", "element", title=f"{total} {status}")
    for item in items:
        table.add_row(
            str(item.id),
            item.institution or "",
            item.system,
            item.code,
            item.display or "",
            str(item.occurrences),
            item.element,
        )
    console.print(table)


app.command("load")(load)
app.command("reviews")(reviews)


TABULAR_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")


def _tabular_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TABULAR_SUFFIXES)


def ingest_tabular(path: Path, mapping: Path, validate: bool = True) -> int:
    """`healthbrain ingest PATH --mapping SPEC`: load CSV/Excel exports; returns the exit code."""
    from healthbrain.ingest.tabular import TerminologyCodes, ingest_table, load_spec, review_sightings
    from healthbrain.terminology import TerminologyService

    try:
        spec = load_spec(mapping)
    except HealthBrainError as err:
        console.print(f"[red]{err.code}[/red] {err.message}")
        return 2
    repo = open_repository(validate=validate)
    service = TerminologyService(repo, map_arriving_codes=False)
    service.load()
    failed = False
    for file in _tabular_files(path):
        summary = ingest_table(
            repo,
            system_context(),
            file,
            spec,
            codes=TerminologyCodes(service),
            sightings=review_sightings(service),
        )
        failed = _report(summary) or failed
    return 1 if failed else 0


def _report(summary: Any) -> bool:
    """Print one file's outcome; True when anything in it failed."""
    if summary.file_error is not None:
        err = summary.file_error
        console.print(f"[red]{summary.file}: {err.code}[/red] {err.message}")
        return True
    table = Table(
        "resource type",
        "count",
        title=f"{summary.file} ({summary.encoding or summary.sheet or summary.kind})",
    )
    for rt, n in sorted(summary.resources.items()):
        table.add_row(rt, f"{n:,}")
    console.print(table)
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(summary.outcomes.items()))
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{summary.rows} rows, {summary.loaded_rows} loaded, {summary.failed_rows} with errors "
        f"({outcomes or 'nothing written'}) in {summary.seconds:.1f}s ({rate:,.0f} rows/s)"
    )
    if summary.ignored_headers:
        console.print(
            f"[yellow]columns not used by the mapping: {', '.join(summary.ignored_headers)}[/yellow]"
        )
    if summary.errors:
        errors = Table("where", "code", "message", title=f"{len(summary.errors)} row errors")
        for e in summary.errors[:100]:
            errors.add_row(e.location(summary.kind), e.code, e.message)
        console.print(errors)
    return bool(summary.errors)
