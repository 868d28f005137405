"""The security package's tables: accounts, clients, keys, tokens, break-glass, audit chain, anomalies."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from healthbrain.core.db import table_metadata

metadata = table_metadata()

# People: practitioner accounts and staff of regional bodies.
user = Table(
    "security_user",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("roles", Text, nullable=False),  # JSON list
    Column("organization", String(64), nullable=False),  # FHIR Organization id
    Column("practitioner", String(64)),  # FHIR Practitioner id
    Column("totp_secret", Text),  # encrypted (envelope) base32 secret
    Column("mfa_enrolled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", Float),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    Column("last_totp_step", BigInteger),  # a TOTP code is accepted once (replay protection)
)

# Institution systems (HIS, LIS ...) using client credentials.
client = Table(
    "security_client",
    metadata,
    Column("id", String(128), primary_key=True),  # client_id
    Column("secret_hash", String(256), nullable=False),
    Column("name", String(256), nullable=False),
    Column("organization", String(64), nullable=False),
    Column("roles", Text, nullable=False),
    Column("scopes", Text, nullable=False),  # JSON list of the scopes it may ask for
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
)

# The key hierarchy: every key here is wrapped by the master key (KEK).
key = Table(
    "security_key",
    metadata,
    Column("id", String(64), primary_key=True),  # kid
    Column("purpose", String(32), nullable=False),  # signing | data | blind-index | audit
    Column("algorithm", String(32), nullable=False),
    Column("wrapped", Text, nullable=False),
    Column("public", Text),  # public key (PEM) of signing keys
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),  # retired keys still verify / decrypt, never sign / encrypt
    Index("ix_security_key_purpose", "purpose", "retired_at"),
)

# Refresh tokens (stored hashed) and sessions; revoking a session revokes its access tokens.
session = Table(
    "security_session",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subject", String(128), nullable=False),  # user id or client id
    Column("kind", String(16), nullable=False),  # user | client
    Column("refresh_hash", String(128), unique=True),
    Column("scopes", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
    Index("ix_security_session_subject", "subject"),
)

# Refresh tokens already exchanged: presenting one again means it was stolen.
used_refresh = Table(
    "security_used_refresh",
    metadata,
    Column("refresh_hash", String(128), primary_key=True),
    Column("session", String(64), nullable=False),
    Column("used_at", Float, nullable=False),
)

# Emergency access: a reason, a time limit and an alert.
break_glass = Table(
    "security_break_glass",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("principal", String(128), nullable=False),
    Column("organization", String(64)),
    Column("patient", String(64), nullable=False),
    Column("reason", Text, nullable=False),  # free text: never logged, shown to auditors only
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_security_break_glass_principal", "principal", "expires_at"),
)

# The audit trail: one row per interaction, each linked to the previous by a hash.
audit = Table(
    "security_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_at", Float, nullable=False),
    Column("principal", String(128), nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("organization", String(64)),
    Column("roles", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("resource_type", String(64)),
    Column("resource_id", String(64)),
    Column("patients", Text, nullable=False),  # JSON list of patient ids
    Column("params", Text, nullable=False),  # JSON list of parameter names
    Column("outcome", String(16), nullable=False),
    Column("detail", String(128), nullable=False),
    Column("count", Integer, nullable=False),
    Column("source", String(64)),
    Column("request_id", String(64), nullable=False),
    Column("break_glass", Boolean, nullable=False, default=False),
    Column("prev_hash", String(128), nullable=False),
    Column("hash", String(128), nullable=False),
    Index("ix_security_audit_time", "recorded_at"),
    Index("ix_security_audit_principal", "principal", "recorded_at"),
)

# Which patients each audited interaction touched: "who saw this patient's record?"
audit_patient = Table(
    "security_audit_patient",
    metadata,
    Column("patient", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
)

# Signed checkpoints of the chain head: verify proves nothing before a checkpoint was rewritten.
audit_checkpoint = Table(
    "security_audit_checkpoint",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("hash", String(128), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", Text, nullable=False),
    Column("signed_at", Float, nullable=False),
)

# Access anomalies raised for the security auditor.
anomaly = Table(
    "security_anomaly",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("detected_at", Float, nullable=False),
    Column("principal", String(128), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("detail", Text, nullable=False),  # ids and counts only
    Column("audit_seq", BigInteger),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="open"),  # open | acknowledged | dismissed
    Index("ix_security_anomaly_time", "detected_at"),
)

# Data-use requests and their three-level approval (institution → region → province).
data_use_request = Table(
    "security_data_use_request",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("requester", String(128), nullable=False),
    Column("organization", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("spec", Text, nullable=False),  # JSON: types, quasi-identifiers, k ...
    Column("status", String(16), nullable=False),  # pending | approved | rejected | exported
    Column("level", Integer, nullable=False, default=0),  # approvals obtained so far (0..3)
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

data_use_decision = Table(
    "security_data_use_decision",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("level", Integer, primary_key=True),  # 1 institution, 2 region, 3 province
    Column("approver", String(128), nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("reason", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
)
