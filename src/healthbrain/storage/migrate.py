"""Schema migrations (Alembic) applied through the engine HealthBrain configured.

The FHIR store's revisions live in `storage/migrations/versions`; every service package that owns
tables keeps its own branch in `<package>/migrations/versions` (branch label = package name), found
on disk here without importing the package, so the layer rule holds. `upgrade` goes to all heads.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from healthbrain.core.db import begin_write

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def version_locations() -> list[str]:
    """Every revision directory: the FHIR store's first, then each service's."""
    own = PACKAGE_ROOT / "storage" / "migrations" / "versions"
    services = sorted(
        p for p in PACKAGE_ROOT.glob("*/migrations/versions") if p.is_dir() and p.resolve() != own.resolve()
    )
    return [str(own), *(str(p) for p in services)]


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "healthbrain.storage:migrations")
    # os.pathsep-separated, so that paths with spaces survive
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations()))
    return cfg


def upgrade_database(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to `revision` (default: the newest of every branch)."""
    cfg = alembic_config()
    # the write lock up front: processes starting together (ingest workers) check in turn
    with begin_write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def revision_autogenerate(engine: Engine, message: str) -> None:
    """Developer tool: a new FHIR-store revision from the difference between tables.py and the database."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True, head="fhir@head")
