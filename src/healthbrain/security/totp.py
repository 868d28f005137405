"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30 s), compatible with authenticator apps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from urllib.parse import quote

__all__ = ["new_secret", "provisioning_uri", "totp", "verify_totp"]

STEP = 30
DIGITS = 6


def new_secret() -> str:
    """A random 160-bit secret, base32 as authenticator apps expect."""
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def totp(secret: str, at: float | None = None, *, step: int | None = None) -> str:
    """The code for time `at` (or for the time step `step`)."""
    counter = step if step is not None else int((time.time() if at is None else at) // STEP)
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify_totp(secret: str, code: str, *, at: float | None = None, window: int = 1) -> int | None:
    """The time step the code belongs to (within ±`window` steps for clock drift), or None."""
    if not code.isdigit() or len(code) != DIGITS:
        return None
    now_step = int((time.time() if at is None else at) // STEP)
    for step in range(now_step - window, now_step + window + 1):
        if hmac.compare_digest(totp(secret, step=step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str = "HealthBrain") -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP}"
