"""The one Settings tree (environment prefix HEALTHBRAIN_, nested with __)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseModel):
    """HTTP edge limits and paging defaults."""

    max_body_bytes: int = 10 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    base_url: str = "http://127.0.0.1:8000/fhir/R4"


class EventSettings(BaseModel):
    """Outbox dispatcher tuning."""

    poll_interval_seconds: float = 0.5
    batch_size: int = 500
    max_attempts: int = 6
    backoff_base_seconds: float = 0.5


class Settings(BaseSettings):
    """Everything configurable, built once in an entry point and passed in."""

    model_config = SettingsConfigDict(env_prefix="HEALTHBRAIN_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "sqlite:///var/healthbrain.db"
    development: bool = True
    dev_token: str = Field(default="dev-token", description="bearer token accepted in development mode")
    export_dir: str = "var/export"
    validate_on_write: bool = True
    language: str = "zh_CN"
    api: ApiSettings = ApiSettings()
    events: EventSettings = EventSettings()
