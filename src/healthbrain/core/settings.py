"""The one Settings tree (environment prefix HEALTHBRAIN_, nested with __)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
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
    # A server that starts this many events behind (after a bulk load) hands each lagging
    # subscriber to one of `catch_up_workers` processes (None: one per core, at most 4; 0 or 1: none)
    catch_up_min_events: int = Field(default=20_000, ge=1)
    catch_up_workers: int | None = Field(default=None, ge=0)


# Development-only key material: refused outside development mode (see Settings.check_secrets).
DEV_MASTER_KEY = "ZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXIta2V5LTMyYiE="


class AnomalySettings(BaseModel):
    """Thresholds of the anomaly rules (defaults suit a county hospital's clinicians)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    monitored_kinds: frozenset[str] = frozenset({"user"})  # people; institution systems sync in bulk
    timezone: str = "Asia/Shanghai"
    work_start_hour: int = Field(default=7, ge=0, le=23)
    work_end_hour: int = Field(default=20, ge=1, le=24)
    off_hours_min_history: int = Field(default=200, ge=1)  # accesses learned before judging the hour
    off_hours_max_share: float = Field(default=0.02, ge=0, le=1)  # "normally works days" below this
    volume_window_seconds: float = Field(default=900, gt=0)
    volume_floor: int = Field(default=100, ge=1)  # distinct patients per window, without a baseline
    volume_minimum: int = Field(default=20, ge=1)  # never a spike below this
    volume_factor: float = Field(default=3.0, gt=1)
    volume_sigmas: float = Field(default=4.0, gt=0)
    volume_min_windows: int = Field(default=8, ge=1)  # active windows before the baseline is trusted
    refused_window_seconds: float = Field(default=600, gt=0)
    refused_threshold: int = Field(default=5, ge=1)  # distinct patients refused within the window
    paging_window_seconds: float = Field(default=60, gt=0)
    paging_threshold: int = Field(default=20, ge=2)  # pages (searches with _offset) within the window
    watched_patients: frozenset[str] = frozenset()  # VIP and employee Patient ids
    watch_tags: frozenset[str] = frozenset({"vip", "employee"})  # Patient meta.tag codes
    cooldown_seconds: float = Field(default=600, ge=0)  # one alert per principal, rule (and patient)
    block_rules: frozenset[str] = frozenset()  # rules whose finding suspends the principal
    refresh_seconds: float = Field(default=30, gt=0)  # watch list and block list reload


class SecuritySettings(BaseModel):
    """Identity, tokens, access policy, audit and encryption."""

    # base64 of 32 random bytes: the key-encryption key of the key hierarchy (wraps data keys,
    # signing keys and the blind-index key). Deployments load it from a secret store or an HSM.
    master_key: str = DEV_MASTER_KEY
    cipher: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    # seal 身份证, phone, names and street addresses at rest (blind indexes keep them searchable)
    encrypt_identifiers: bool = True
    audit_hash: Literal["sha256", "sm3"] = "sha256"
    issuer: str = "https://healthbrain.local"
    audience: str = "healthbrain"
    access_token_seconds: int = Field(default=900, ge=60, le=86400)
    refresh_token_seconds: int = Field(default=8 * 3600, ge=300)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=900, ge=1)
    care_window_days: int = Field(default=365, ge=1)
    break_glass_minutes: int = Field(default=60, ge=1, le=24 * 60)
    audit_flush_seconds: float = Field(default=0.2, gt=0)
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    # who hashes and writes the audit chain: a thread of the process that audits ("thread"), or a
    # writer process of its own ("process": a server's default, so that the chain's work does not
    # compete with the requests for the interpreter). An in-memory SQLite store always uses a thread.
    audit_writer: Literal["thread", "process"] = "thread"
    anomaly: AnomalySettings = AnomalySettings()
    # roles that must sign in with a second factor (any role that can read identified data)
    mfa_roles: frozenset[str] = frozenset(
        {
            "clinician",
            "nurse",
            "pharmacist",
            "cdc-officer",
            "insurance-auditor",
            "regional-officer",
            "provincial-supervisor",
            "security-auditor",
            "platform-admin",
            "institution-admin",
            "index-steward",
        }
    )


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
    security: SecuritySettings = SecuritySettings(audit_writer="process")  # a deployment's default

    def check_secrets(self) -> None:
        """Refuse to start outside development mode with development secrets."""
        if self.development:
            return
        problems = []
        if self.security.master_key == DEV_MASTER_KEY:
            problems.append("HEALTHBRAIN_SECURITY__MASTER_KEY is the development key")
        if self.dev_token:
            problems.append("HEALTHBRAIN_DEV_TOKEN must be empty outside development mode")
        if problems:
            raise InsecureConfiguration("; ".join(problems))


class InsecureConfiguration(RuntimeError):
    """Start-up refused: a secret is missing or is a development default."""
