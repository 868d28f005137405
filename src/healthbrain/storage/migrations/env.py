"""Alembic environment: runs on the connection HealthBrain passes in (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from healthbrain.core.db import create_db_engine
from healthbrain.storage.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/healthbrain.db")
    with engine.connect() as conn:
        _run(conn)
