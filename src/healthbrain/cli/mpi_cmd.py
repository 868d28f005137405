"""`healthbrain mpi ...`: batch re-link of the patient index, its review queue and its figures."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import Settings
from healthbrain.mpi import PatientIndex, open_index, relink, reseal, sealer_for
from healthbrain.mpi import tables as mt
from healthbrain.mpi.sources import stored_patients
from healthbrain.security import SecurityServices
from healthbrain.storage.migrate import upgrade_database

app = typer.Typer(help="Patient index (EMPI, 主索引).", no_args_is_help=True)
console = Console()


def _index() -> tuple[PatientIndex, SecurityServices]:
    settings = Settings()
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    security = SecurityServices.build(engine, settings.security)
    return open_index(engine, sealer=sealer_for(security)), security


@app.command("relink")
def relink_cmd(
    train: Annotated[bool, typer.Option(help="re-estimate the model (EM, no labels) first")] = True,
) -> None:
    """Match every Patient of the FHIR store again in one batch (after a bulk load, or a new model)."""
    index, security = _index()
    reveal = security.protector.reveal_text if security.protector is not None else None
    summary = relink(index, list(stored_patients(index.engine, reveal=reveal)), train=train, prune=True)
    console.print(
        f"[green]{summary.records:,} records → {summary.residents:,} residents[/green] "
        f"({summary.moved:,} moved, {summary.reviews:,} to review, "
        f"{summary.candidate_pairs:,} pairs compared, "
        f"{summary.seconds:.1f} s)"
    )


@app.command("reseal")
def reseal_cmd() -> None:
    """Seal again the index's rows still under a retired data key (after `admin rotate-keys --purpose
    data`), and seal rows stored before encryption was on. Online; safe to run twice."""
    index, security = _index()
    if not security.settings.encrypt_identifiers:
        console.print("[yellow]identifier encryption is off: nothing to seal[/yellow]")
        raise typer.Exit(1)
    summary = reseal(index)
    console.print(
        f"[green]{summary.total:,} rows sealed under the active data key[/green] "
        f"({summary.records:,} records, {summary.residents:,} residents, {summary.models:,} models)"
    )


@app.command("reviews")
def reviews_cmd(limit: int = 20) -> None:
    """List open reviews: pairs that may be one person, with the reasons they were held back."""
    index, _ = _index()
    with index.engine.connect() as conn:
        rows = index.store.reviews(conn, "open", limit, 0)
    table = Table("id", "record", "candidate", "probability", "reasons")
    for r in rows:
        table.add_row(str(r.id), r.patient_ref, r.candidate_ref, f"{r.probability:.3f}", ", ".join(r.reasons))
    console.print(table)


@app.command("stats")
def stats_cmd() -> None:
    """Residents, links by state, open reviews."""
    index, _ = _index()
    with index.engine.connect() as conn:
        by_state = select(mt.link.c.state, func.count()).group_by(mt.link.c.state)
        states: dict[str, int] = dict(conn.execute(by_state).all())
        open_reviews = conn.execute(
            select(func.count()).select_from(mt.review).where(mt.review.c.status == "open")
        ).scalar_one()
        residents = index.store.count_residents(conn)
    table = Table("what", "count")
    table.add_row("residents", f"{residents:,}")
    for state, n in sorted(states.items()):
        table.add_row(f"links: {state}", f"{n:,}")
    table.add_row("open reviews", f"{open_reviews:,}")
    console.print(table)
