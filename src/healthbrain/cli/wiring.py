"""The repository and security services as the server wires them, for the CLI's commands."""

from __future__ import annotations

import atexit

from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.quarantine import QuarantineHook
from healthbrain.security import SecurityServices
from healthbrain.storage.migrate import upgrade_database

__all__ = ["ingest_worker", "open_repository", "open_services"]


def open_services(
    settings: Settings | None = None, *, validate: bool | None = None
) -> tuple[FhirRepository, SecurityServices]:
    """Migrate the schema, start the audit chain (flushed at exit) and build the repository with
    policy, labels, sealing and audit included."""
    settings = settings or Settings()
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    security = SecurityServices.build(engine, settings.security)
    security.audit.start()
    atexit.register(security.audit.stop)
    repo = FhirRepository(
        engine,
        **security.repository_options(),
        validate=settings.validate_on_write if validate is None else validate,
        base_url=settings.api.base_url,
    )
    return repo, security


def open_repository(settings: Settings | None = None, *, validate: bool | None = None) -> FhirRepository:
    """The repository as the server has it: policy, labels and the audit chain included."""
    return open_services(settings, validate=validate)[0]


def ingest_worker(validate: bool | None, quarantine: bool) -> tuple[FhirRepository, QuarantineHook | None]:
    """A parallel ingest worker's repository and quarantine hook (settings from the environment)."""
    from healthbrain.ingest.quarantine import open_quarantine

    repo = open_repository(validate=validate)
    return repo, open_quarantine(repo) if quarantine else None
