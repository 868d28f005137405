"""`healthbrain` CLI: serve, db upgrade, simulate, ingest, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from healthbrain.cli.wiring import open_repository as _repository
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import Settings
from healthbrain.storage.migrate import upgrade_database

app = typer.Typer(help="HealthBrain 健康大脑 — regional health data and AI platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


def _settings() -> Settings:
    return Settings()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option(help="PEM CA bundle: require client certificates it signed (mutual TLS)")
    ] = None,
) -> None:
    """Serve the FHIR API, platform API and landing page (HTTPS with --tls-cert and --tls-key)."""
    import ssl

    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        console.print("[red]--tls-cert and --tls-key go together[/red]")
        raise typer.Exit(2)
    if tls_client_ca is not None and tls_cert is None:
        console.print("[red]--tls-client-ca needs --tls-cert and --tls-key[/red]")
        raise typer.Exit(2)
    for path in (tls_cert, tls_key, tls_client_ca):
        if path is not None and not path.is_file():
            console.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    scheme = "https" if tls_cert else "http"
    console.print(f"HealthBrain 健康大脑 → {scheme}://{host}:{port}  (FHIR: /fhir/R4/metadata, docs: /docs)")
    tls: dict[str, object] = {}
    if tls_cert is not None and tls_key is not None:
        tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
        if tls_client_ca is not None:
            tls |= {"ssl_ca_certs": str(tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    uvicorn.run(
        "healthbrain.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        **tls,  # type: ignore[arg-type]
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    settings = _settings()
    upgrade_database(create_db_engine(settings.database_url))
    console.print("[green]schema is up to date[/green]")


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="output directory for the transaction bundles")],
    patients: Annotated[int, typer.Option(min=1)] = 1000,
    seed: int = 42,
    year: int = 2025,
) -> None:
    """Generate a deterministic synthetic region (FHIR transaction bundles per institution)."""
    from healthbrain.simulation import RegionConfig, write_region

    with _progress() as progress:
        task = progress.add_task("simulating", total=patients)
        summary = write_region(
            RegionConfig(patients=patients, seed=seed, year=year),
            out,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    table = Table("resource type", "count", title=f"synthetic region → {out}")
    for rt, n in sorted(summary.counts.items()):
        table.add_row(rt, f"{n:,}")
    console.print(table)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="a bundle, NDJSON file or a directory of them")],
    validate: Annotated[bool, typer.Option(help="validate every resource against the R4B models")] = True,
    mapping: Annotated[Path | None, typer.Option(help="a YAML mapping spec for CSV/Excel exports")] = None,
    quarantine: Annotated[bool, typer.Option(help="hold records failing hard data-quality rules")] = True,
    workers: Annotated[
        int, typer.Option(help="processes sharing the files; 0 picks by the data's size and the cores")
    ] = 0,
) -> None:
    """Load FHIR data through the repository; each bundle commits atomically and reruns resume."""
    from functools import partial

    from healthbrain.cli.wiring import ingest_worker
    from healthbrain.ingest import ingest_path
    from healthbrain.ingest.quarantine import open_quarantine
    from healthbrain.ingest.workers import auto_workers

    if not path.exists():
        console.print(f"[red]no such file or directory: {path}[/red]")
        raise typer.Exit(2)
    if mapping is not None:  # CSV/Excel exports: the logic lives in terminology_cmd / ingest.tabular
        from healthbrain.cli.terminology_cmd import ingest_tabular

        raise typer.Exit(ingest_tabular(path, mapping, validate))
    repo = _repository(_settings(), validate=validate)
    processes = workers if workers > 0 else auto_workers(path)
    with _progress() as progress:
        task = progress.add_task(
            f"ingesting ({processes} processes)" if processes > 1 else "ingesting", total=None
        )
        summary = ingest_path(
            repo,
            system_context(),
            path,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            quarantine=open_quarantine(repo) if quarantine and processes == 1 else None,
            workers=processes,
            setup=partial(ingest_worker, validate, quarantine),
        )
    table = Table("resource type", "count", title="ingested")
    for rt, n in sorted(summary.resources.items()):
        table.add_row(rt, f"{n:,}")
    console.print(table)
    rate = summary.total_resources / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{summary.files} files, {summary.units} units committed, {summary.skipped_units} already "
        f"ingested, {summary.total_resources:,} resources in {summary.seconds:.1f}s ({rate:,.0f}/s)"
    )
    for skipped in summary.skipped_files:
        console.print(f"[yellow]skipped {skipped}: a JSON document that is not a FHIR resource[/yellow]")
    if summary.quarantined:  # held back by hard data-quality rules (see `healthbrain quality quarantine`)
        console.print(f"[yellow]{summary.quarantined:,} records quarantined by data-quality rules[/yellow]")
    if summary.errors:
        errors = Table("source", "where", "code", "message", title=f"{len(summary.errors)} errors")
        for err in summary.errors[:50]:
            errors.add_row(err.source, err.location, err.code, err.message)
        console.print(errors)
        raise typer.Exit(1)


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="directory for the NDJSON files")],
    types: Annotated[str | None, typer.Option("--type", help="comma-separated resource types")] = None,
    since: Annotated[str | None, typer.Option(help="only resources changed since this instant")] = None,
) -> None:
    """Bulk-export the store as NDJSON (one file per resource type)."""
    from healthbrain.fhir.export import ExportService

    settings = _settings()
    repo = _repository(settings)
    service = ExportService(repo, settings.export_dir, settings.api.base_url)
    params: list[tuple[str, str]] = []
    if types:
        params.append(("_type", types))
    if since:
        params.append(("_since", since))
    manifest = service.export_to_dir(system_context(), "system", out, params=params)
    table = Table("resource type", "count", "file", title=f"exported → {out}")
    for item in manifest.get("output", []):
        table.add_row(str(item["type"]), f"{item.get('count', 0):,}", str(item["url"]).rsplit("/", 1)[-1])
    console.print(table)


from healthbrain.cli import admin_cmd  # noqa: E402  (accounts, keys and the audit chain)

app.add_typer(admin_cmd.admin_app, name="admin")
app.add_typer(admin_cmd.audit_app, name="audit")

from healthbrain.cli import hl7_cmd  # noqa: E402  (HL7 v2: logic lives in hl7_cmd)

app.command("mllp")(hl7_cmd.mllp)
app.command("hl7-convert")(hl7_cmd.hl7_convert)

from healthbrain.cli import mpi_cmd  # noqa: E402  (patient index: logic lives in mpi_cmd)

app.add_typer(mpi_cmd.app, name="mpi")

from healthbrain.cli import terminology_cmd  # noqa: E402  (terminology: logic lives in terminology_cmd)

app.add_typer(terminology_cmd.app, name="terminology")

from healthbrain.cli import quality_cmd  # noqa: E402  (data quality: logic lives in quality_cmd)

app.add_typer(quality_cmd.app, name="quality")

from healthbrain.cli import surveillance_cmd  # noqa: E402  (surveillance: logic lives in surveillance_cmd)

app.add_typer(surveillance_cmd.app, name="surveillance")

if __name__ == "__main__":
    app()
