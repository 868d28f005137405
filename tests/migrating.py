"""Schema revisions in the migration tests: take one package's branch down to an earlier revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from healthbrain.core.db import begin_write
from healthbrain.storage.migrate import alembic_config


def downgrade(engine: Engine, target: str) -> None:
    """Run the downgrades to `target` (for example "quality@-1") in one transaction."""
    cfg = alembic_config()
    with begin_write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, target)
