"""Settings, errors, logging, request context and the database engine; imports nothing of ours."""

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine, is_postgres
from healthbrain.core.errors import (
    Conflict,
    Forbidden,
    Gone,
    HealthBrainError,
    InvalidInput,
    Issue,
    NotFound,
    PreconditionFailed,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from healthbrain.core.settings import Settings

__all__ = [
    "Conflict",
    "Forbidden",
    "Gone",
    "HealthBrainError",
    "InvalidInput",
    "Issue",
    "NotFound",
    "PreconditionFailed",
    "Principal",
    "PurposeOfUse",
    "RequestContext",
    "Settings",
    "TooLarge",
    "Unauthorized",
    "Unprocessable",
    "create_db_engine",
    "is_postgres",
    "system_context",
]
