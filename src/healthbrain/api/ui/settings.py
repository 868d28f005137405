"""Cockpit settings (environment prefix HEALTHBRAIN_UI__): session timeouts, live-update pacing, caching."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["UiSettings"]


class UiSettings(BaseSettings):
    """How long a cockpit session lives and how often live panels refresh.

    Example: HEALTHBRAIN_UI__IDLE_MINUTES=10.
    """

    model_config = SettingsConfigDict(env_prefix="HEALTHBRAIN_UI__", extra="ignore")

    # 等保: a session left alone ends; the user signs in again (with the second factor)
    idle_minutes: float = Field(default=15.0, gt=0)
    # how often the live stream looks for new surveillance signals
    signal_poll_seconds: float = Field(default=5.0, gt=0)
    # keep-alive comments on the live stream, so proxies keep it open
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    # region-wide aggregates (condition and patient counts) are reused this long per role and organisation
    cache_seconds: float = Field(default=120.0, ge=0)
    # where the browser libraries installed by `npm ci` live (default: node_modules of the project)
    vendor_dir: str | None = None
