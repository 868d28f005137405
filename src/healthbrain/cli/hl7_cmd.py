"""`healthbrain mllp` (the HL7 v2 listener) and `healthbrain hl7-convert` (try a mapping on a file)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from healthbrain.core.db import create_db_engine
from healthbrain.core.logging import configure_logging
from healthbrain.core.settings import Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.storage.migrate import upgrade_database

console = Console(stderr=True)


def mllp(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (2575 is the registered HL7 port)")] = 2575,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve MLLP over TLS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option(help="require client certificates signed by this CA")
    ] = None,
    specs: Annotated[
        Path | None, typer.Option(help="directory of mapping specs that override the shipped ones")
    ] = None,
    queue_size: Annotated[int, typer.Option(min=1, help="messages waiting for a worker, at most")] = 64,
    workers: Annotated[int, typer.Option(min=1, help="threads writing to the repository")] = 2,
    application: Annotated[str, typer.Option(help="MSH-3 of the acknowledgments")] = "HEALTHBRAIN",
    facility: Annotated[str, typer.Option(help="MSH-4 of the acknowledgments")] = "",
) -> None:
    """Receive HL7 v2 messages over MLLP, map them to FHIR and store them (ACK/NAK per message)."""
    from healthbrain.ingest.hl7v2 import (
        Hl7Ingestor,
        MllpConfig,
        SpecError,
        load_catalog,
        run_server,
        server_ssl_context,
    )

    if (tls_cert is None) != (tls_key is None):
        console.print("[red]--tls-cert and --tls-key go together[/red]")
        raise typer.Exit(2)
    try:
        catalog = load_catalog(specs)
    except SpecError as err:
        console.print(f"[red]mapping spec error: {err}[/red]")
        raise typer.Exit(2) from err
    settings = Settings()
    configure_logging()
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=settings.validate_on_write, base_url=settings.api.base_url)
    ingestor = Hl7Ingestor(repo, catalog, application=application, facility=facility)
    context = server_ssl_context(tls_cert, tls_key, tls_client_ca) if tls_cert and tls_key else None
    config = MllpConfig(host=host, port=port, ssl=context, queue_size=queue_size, workers=workers)

    def ready(bound: int) -> None:
        scheme = "MLLP/TLS" if context else "MLLP"
        console.print(
            f"HealthBrain 健康大脑 HL7 v2 {scheme} → {host}:{bound}  ({len(catalog.messages)} events)"
        )

    async def main() -> None:
        task = asyncio.create_task(run_server(ingestor.handle_frame, config, ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    engine.dispose()


def hl7_convert(
    path: Annotated[Path, typer.Argument(help="an HL7 v2 message file (a batch file gives one Bundle each)")],
    specs: Annotated[
        Path | None, typer.Option(help="directory of mapping specs that override the shipped ones")
    ] = None,
) -> None:
    """Print the FHIR transaction Bundle a message maps to (nothing is stored): test a mapping."""
    from healthbrain.ingest.hl7v2 import (
        Hl7Rejected,
        SpecError,
        load_catalog,
        map_message,
        parse_message,
        split_batch,
    )

    try:
        catalog = load_catalog(specs)
    except SpecError as err:
        console.print(f"[red]mapping spec error: {err}[/red]")
        raise typer.Exit(2) from err
    if not path.is_file():
        console.print(f"[red]no such file: {path}[/red]")
        raise typer.Exit(2)
    failed = False
    for raw in split_batch(path.read_bytes()):
        try:
            mapped = map_message(parse_message(raw), catalog)
        except Hl7Rejected as err:
            failed = True
            for p in err.problems:
                console.print(f"[red]{p.code} {p.location or ''}: {p.message}[/red]")
            continue
        sys.stdout.write(orjson.dumps(mapped.bundle, option=orjson.OPT_INDENT_2).decode() + "\n")
    if failed:
        raise typer.Exit(1)
