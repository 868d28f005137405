"""`healthbrain surveillance ...`: the nightly run (catch up the case subscribers, then per-county
detection and the space-time scan for each day) and weekly forecasts, with progress and counts.

Run it from cron or a systemd timer after midnight, e.g. `healthbrain surveillance detect` (yesterday).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from healthbrain.cli.wiring import open_services
from healthbrain.core.errors import HealthBrainError
from healthbrain.core.settings import Settings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.mpi import open_index, sealer_for
from healthbrain.storage import tables as st
from healthbrain.surveillance import (
    CONDITION_SUBSCRIBER,
    OBSERVATION_SUBSCRIBER,
    SurveillanceService,
    adjacency_from_pairs,
    parse_pairs,
)

app = typer.Typer(help="Infectious-disease surveillance (传染病监测预警).", no_args_is_help=True)
console = Console()
MAX_DAYS = 3660


def _service(adjacency: Path | None = None) -> tuple[SurveillanceService, EventDispatcher]:
    """The service as the server wires it: the repository with policy and audit, the patient
    index's resident resolver, and a dispatcher whose store reveals sealed values."""
    settings = Settings()
    repo, security = open_services(settings)
    engine = repo.engine
    index = open_index(engine, sealer=sealer_for(security))
    adj = None
    if adjacency is not None:
        pairs = parse_pairs(adjacency.read_text(encoding="utf-8"))
        adj = adjacency_from_pairs({a for pair in pairs for a in pair}, pairs)
    service = SurveillanceService(repo, resident_of=index.resident_of, adjacency=adj)
    dispatcher = EventDispatcher(engine, settings.events, store=repo.store)  # reveals sealed values
    service.register(dispatcher)
    return service, dispatcher


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )  # fmt: skip


def _behind(dispatcher: EventDispatcher) -> int:
    """Outbox events the case subscribers have not yet seen (summed over the two)."""
    cursor = st.event_cursor.c
    with dispatcher.engine.connect() as conn:
        head = dispatcher.store.outbox_head(conn)
        rows = conn.execute(
            select(cursor.position).where(
                cursor.subscriber.in_([CONDITION_SUBSCRIBER, OBSERVATION_SUBSCRIBER])
            )
        ).scalars()
        positions = list(rows)
    return sum(head - p for p in positions) if positions else 2 * head


def catch_up(dispatcher: EventDispatcher) -> int:
    """Deliver every pending change to the case subscribers; returns the events delivered."""
    delivered = 0
    with _progress() as progress:
        task = progress.add_task("catching up reports", total=_behind(dispatcher))
        while done := dispatcher.dispatch_once():
            delivered += done
            progress.update(task, advance=done)
    return delivered


def _days(day: date | None, first: date | None, last: date | None) -> list[date]:
    if first is not None or last is not None:
        if first is None or last is None or last < first or (last - first).days > MAX_DAYS:
            console.print("[red]--from and --to go together, forwards, at most ten years apart[/red]")
            raise typer.Exit(2)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [day or date.today() - timedelta(days=1)]


@app.command("detect")
def detect_cmd(
    day: Annotated[str | None, typer.Option(help="the day to test (default: yesterday)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day of a range to test")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day of the range")] = None,
    scan: Annotated[bool, typer.Option(help="also the space-time scan across neighbouring counties")] = True,
    adjacency: Annotated[
        Path | None, typer.Option(help="CSV of neighbouring counties (area,neighbour)")
    ] = None,
) -> None:
    """The nightly run: bring the case counts up to date, then detect for each day."""
    try:
        days = _days(*(date.fromisoformat(v) if v else None for v in (day, start, end)))
        service, dispatcher = _service(adjacency)
    except (ValueError, HealthBrainError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    t0 = time.perf_counter()
    delivered = catch_up(dispatcher)
    series = alarms = clusters = 0
    signals: set[str] = set()
    with _progress() as progress:
        task = progress.add_task("detecting", total=len(days))
        for d in days:
            summary, ids = service.detect(d)
            series, alarms = series + summary.series, alarms + summary.alarms
            signals.update(ids)
            if scan:
                found, cluster_ids = service.scan(d)
                clusters += found.clusters
                signals.update(cluster_ids)
            progress.advance(task)
    table = Table("what", "count", title=f"surveillance {days[0]} → {days[-1]}")
    for name, value in (("report events delivered", delivered), ("days", len(days)),
                        ("series tested", series), ("alarms", alarms), ("clusters found", clusters),
                        ("signals", len(signals))):  # fmt: skip
        table.add_row(name, f"{value:,}")
    console.print(table)
    console.print(f"{time.perf_counter() - t0:.1f} s")


@app.command("forecast")
def forecast_cmd(
    disease: Annotated[str | None, typer.Option(help="disease key, e.g. hfmd")] = None,
    syndrome: Annotated[str | None, typer.Option(help="syndrome key, e.g. respiratory")] = None,
    area: Annotated[
        str | None, typer.Option(help="county code or <county>/<township>; default: region")
    ] = None,
    level: Annotated[str, typer.Option(help="county or township")] = "county",
    as_of: Annotated[
        str | None, typer.Option(help="forecast after the last complete week by this day")
    ] = None,
) -> None:
    """Weekly cases 1–4 weeks ahead with 50 % and 95 % intervals, from the stored weekly counts."""
    if (disease is None) == (syndrome is None):
        console.print("[red]name either --disease or --syndrome[/red]")
        raise typer.Exit(2)
    key = str(disease or syndrome)
    try:
        service, dispatcher = _service()
        delivered = catch_up(dispatcher)
        fc = service.forecast(key, area, level=level, as_of=date.fromisoformat(as_of) if as_of else None)
    except (ValueError, HealthBrainError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    where = area or "region"
    table = Table("week", "median", "50 % interval", "95 % interval",
                  title=f"{key} in {where}: {fc.model} model after {fc.origin}")  # fmt: skip
    for i, week in enumerate(fc.targets):
        q = {round(float(lv), 3): float(v) for lv, v in zip(fc.levels, fc.values[i], strict=True)}
        table.add_row(week, f"{q[0.5]:.1f}", f"{q[0.25]:.1f}–{q[0.75]:.1f}", f"{q[0.025]:.1f}–{q[0.975]:.1f}")
    console.print(table)
    recent = ", ".join(f"{w}: {int(v)}" for w, v in zip(fc.weeks[-4:], fc.observed[-4:], strict=True))
    console.print(
        f"last weeks {recent}; {len(fc.weeks)} weeks of history; {delivered:,} report events delivered"
    )
    for note in fc.notes:
        console.print(f"[yellow]{note.code}: {note.message}[/yellow]")
