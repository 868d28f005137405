"""`healthbrain quality ...`: scores, the quarantine and its decisions, rules, and the recognition check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from healthbrain.cli.wiring import open_repository as _repository
from healthbrain.core.context import system_context
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import EventDispatcher
from healthbrain.quality import QualityMonitor, QuarantineDesk, ScoreBoard, default_rules
from healthbrain.quality.elements import LOCAL_ZONE

app = typer.Typer(help="Data quality (数据质量): scores, quarantine, rules.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records held back by hard rules.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
console = Console()


def _fail(err: HealthBrainError) -> typer.Exit:
    console.print(f"[red]{err.code}: {err.message}[/red]")
    for issue in err.issues:
        if issue.expression:
            console.print(f"  {issue.expression}: {issue.diagnostics}")
    return typer.Exit(1)


@app.command("refresh")
def refresh_cmd() -> None:
    """Evaluate every record committed since the last run (the server does this continuously)."""
    repo = _repository()
    # the repository's store reveals sealed values
    dispatcher = EventDispatcher(repo.engine, store=repo.store)
    QualityMonitor(repo).register(dispatcher)
    handled = dispatcher.drain(max_rounds=100_000)
    console.print(f"[green]{handled:,} events evaluated[/green]")


@app.command("scores")
def scores_cmd(
    start: Annotated[str | None, typer.Option("--from", help="first day (ISO), default 30 days ago")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day (ISO), default today")] = None,
    institution: str | None = None,
    by: Annotated[str, typer.Option(help="day | institution")] = "institution",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON score per line")] = False,
) -> None:
    """Quality scores (0-100) and their components."""
    today = datetime.now(LOCAL_ZONE).date()  # days are the platform's local days
    first = date.fromisoformat(start) if start else today - timedelta(days=30)
    last = date.fromisoformat(end) if end else today
    board = ScoreBoard(_repository().engine)
    try:
        rows = board.by_institution(first, last) if by == "institution" else board.daily(
            first, last, institution=institution
        )  # fmt: skip
    except HealthBrainError as err:
        raise _fail(err) from err
    rows = [r for r in rows if not institution or r["institution"] == institution]
    if as_json:
        for r in rows:
            typer.echo(orjson.dumps(r).decode())
        return
    table = Table("institution", "day", "score", *default_rules().weights, "records", "quarantined")
    for r in rows:
        parts = [("-" if v is None else f"{v:.1f}") for v in r["components"].values()]
        score = "-" if r["score"] is None else f"{r['score']:.1f}"
        counts = (f"{r['records']:,}", str(r["quarantined"]))
        table.add_row(r["institution"], r.get("day", ""), score, *parts, *counts)
    console.print(table)


@app.command("rules")
def rules_cmd() -> None:
    """The rules, their dimension and severity (hard rules quarantine)."""
    rules = default_rules()
    table = Table("rule", "severity", "title")
    for code, sev in rules.severities.items():
        table.add_row(code, sev, rules.titles[code])
    console.print(table)


@quarantine_app.command("list")
def list_cmd(
    status: str = "held",
    institution: str | None = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON summary per line")] = False,
) -> None:
    """Quarantined records, newest first."""
    desk = QuarantineDesk(_repository())
    rows, total = desk.entries(system_context(), status=None if status == "all" else status,
                               institution=institution, limit=limit)  # fmt: skip
    if as_json:
        for r in rows:
            typer.echo(orjson.dumps(r.summary()).decode())
        return
    table = Table("id", "institution", "type", "status", "reason", "rules", title=f"{total:,} entries")
    for r in rows:
        reason = "failed" if r.own else "held with"
        rules = ", ".join(f.rule for f in r.findings)
        table.add_row(r.id, r.institution, r.res_type, r.status, reason, rules)
    console.print(table)


@quarantine_app.command("show")
def show_cmd(qid: str) -> None:
    """One quarantined record with its content (audited)."""
    try:
        row, content = QuarantineDesk(_repository()).read(system_context(), qid)
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print_json(orjson.dumps({**row.summary(), "resource": content}).decode())


@quarantine_app.command("release")
def release_cmd(
    qid: str,
    file: Annotated[Path | None, typer.Option(help="the corrected resource (JSON)")] = None,
    note: str | None = None,
    override: Annotated[bool, typer.Option(help="release although hard rules still fail")] = False,
) -> None:
    """Write a held record (corrected from --file, or as it is) and what was held with it."""
    resource = orjson.loads(file.read_bytes()) if file is not None else None
    try:
        outcome = QuarantineDesk(_repository()).release(system_context(), qid, resource, note=note,
                                                        override=override)  # fmt: skip
    except HealthBrainError as err:
        raise _fail(err) from err
    for entry, ref in outcome.released:
        console.print(f"[green]released {entry} → {ref}[/green]")


@quarantine_app.command("discard")
def discard_cmd(qid: str, note: str | None = None) -> None:
    """Give up on a held record (it stays listed, never written)."""
    try:
        QuarantineDesk(_repository()).discard(system_context(), qid, note)
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"[yellow]discarded {qid}[/yellow]")


@app.command("evaluate")
def evaluate_cmd(
    patients: Annotated[int, typer.Option(min=50)] = 2000,
    seed: int = 42,
    noise: Annotated[float, typer.Option(help="share of Patient records with an identity error")] = 0.3,
    rate: Annotated[float, typer.Option(help="clinical anomaly rate per kind")] = 0.002,
) -> None:
    """Simulate a region, inject known anomalies and measure the rules against the ground truth."""
    from healthbrain.quality.evaluation import evaluate_institutions, score_detection
    from healthbrain.quality.injection import inject_anomalies
    from healthbrain.simulation import RegionConfig, simulate_region

    config = RegionConfig(patients=patients, seed=seed, noise_rate=noise, duplicate_rate=min(noise / 6, 0.2))
    region = simulate_region(config)
    institutions = {k: list(v) for k, v in region.institutions.items()}
    arrival = datetime(config.year + 1, 3, 15, tzinfo=UTC)
    errors = region.ground_truth.errors
    injected = inject_anomalies(institutions, seed=seed + 1, rate=rate, year=config.year, arrival=arrival,
                                skip=frozenset(e.record for e in errors))  # fmt: skip
    report = score_detection(
        evaluate_institutions(institutions, default_rules(), arrival),
        [(e.record, e.kind) for e in errors] + [(a.record, a.kind) for a in injected],
    )
    table = Table("anomaly", "injected", "flagged", "recognised")
    for kind, k in sorted(report.kinds.items()):
        table.add_row(kind, str(k.injected), str(k.flagged), str(k.recognised))
    console.print(table)
    console.print(
        f"detection {report.detection_rate:.2%}, recognition {report.recognition_rate:.2%}, "
        f"false alarms {report.false_alarm_rate:.3%} of {sum(report.clean.values()):,} clean records"
    )
