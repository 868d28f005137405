"""Password hashing with argon2id, and the password rules accounts must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from healthbrain.core.errors import InvalidInput, Issue

__all__ = ["check_password_rules", "hash_password", "needs_rehash", "verify_password"]

# RFC 9106's second recommended option (64 MiB, 3 passes) is too slow for a 2-core test machine
# running hundreds of logins; 19 MiB / 2 passes is OWASP's minimum for argon2id.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when the password matches; never raises for a wrong password or a damaged hash."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)


def check_password_rules(password: str) -> None:
    """等保 requires complexity: length and at least three of four character classes."""
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if len(password) < MIN_LENGTH or classes < 3:
        msg = f"a password needs at least {MIN_LENGTH} characters and three of: lower, upper, digit, symbol"
        raise InvalidInput(
            msg, issues=[Issue("error", "value", msg, "password")], code="security.weak_password"
        )
