"""CDS service settings (environment prefix HEALTHBRAIN_CDS__), built once by the entry point."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CdsSettings", "EscalationStep"]


class EscalationStep(BaseModel):
    """One step of the escalation chain: who is notified, and how long they have to acknowledge."""

    role: Literal["ordering", "duty", "head"]
    timeout_seconds: float = Field(gt=0)


def _default_chain() -> list[EscalationStep]:
    # 危急值: the clinician must confirm receipt promptly; hospitals commonly allow 10 minutes per step.
    return [
        EscalationStep(role="ordering", timeout_seconds=600),
        EscalationStep(role="duty", timeout_seconds=600),
        EscalationStep(role="head", timeout_seconds=900),
    ]


class CdsSettings(BaseSettings):
    """Escalation chain, timing, early-warning assumptions and review thresholds.

    Example: HEALTHBRAIN_CDS__ESCALATION='[{"role":"ordering","timeout_seconds":300}]'.
    """

    model_config = SettingsConfigDict(
        env_prefix="HEALTHBRAIN_CDS__", env_nested_delimiter="__", extra="ignore"
    )

    enabled: bool = True
    escalation: list[EscalationStep] = Field(default_factory=_default_chain, min_length=1)
    escalate_priorities: list[str] = Field(default_factory=lambda: ["critical"])
    tick_seconds: float = Field(default=1.0, gt=0)
    vital_set_window_seconds: float = Field(default=300.0, gt=0)
    assume_room_air: bool = True
    review_min_severity: Literal["info", "minor", "moderate", "major", "contraindicated"] = "minor"
    notify_min_severity: Literal["minor", "moderate", "major", "contraindicated"] = "major"
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_seconds: float = Field(default=2.0, gt=0)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    cache_seconds: float = Field(default=60.0, ge=0)
