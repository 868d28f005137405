"""How the patient index keeps identifying data at rest: sealed JSON blobs and keyed blocking keys.

The index keeps, per institution Patient, the identity it was matched on (name, 身份证, phones,
address), a golden record per resident and the trained model's term-frequency tables (names);
its blocking keys are derived from the same values. With a key ring all of them are sealed:
blobs are envelope-encrypted (AES-256-GCM or SM4-GCM under the data key, bound to their row),
blocking keys become HMAC blind indexes, so an arriving record still finds its candidates by
equality. Without one (tests, `encrypt_identifiers` off) they are stored as they are.
"""

from __future__ import annotations

from typing import Protocol

from healthbrain.core.errors import HealthBrainError
from healthbrain.security import KeyRing
from healthbrain.security.crypto import is_protected

__all__ = ["KeyRingSealer", "PlainSealer", "SealedWithoutKeys", "Sealer"]

BLOCK_CONTEXT = "mpi.block"


class SealedWithoutKeys(HealthBrainError):
    """A sealed row was read by an index opened without the deployment's key ring."""

    status = 500
    code = "mpi.sealed_without_keys"


class Sealer(Protocol):
    """Seals the index's blobs and blocking keys (the port; the store is its only user)."""

    def seal(self, text: str, context: str) -> str:
        """`text` sealed, bound to `context` (e.g. `record:Patient/1`)."""
        ...

    def open(self, text: str, context: str) -> str:
        """The text of a stored blob, sealed or (written before sealing was on) plain."""
        ...

    def blind(self, key: str) -> str:
        """The stored form of a blocking key: equal keys give equal outputs."""
        ...

    def stale(self, text: str) -> bool:
        """Whether a stored blob should be sealed again: plain, or under a retired data key."""
        ...


class PlainSealer:
    """No sealing: values stored as they are (tests, development with encryption off)."""

    def seal(self, text: str, context: str) -> str:
        return text

    def open(self, text: str, context: str) -> str:
        if is_protected(text):
            raise SealedWithoutKeys("the patient index holds sealed rows: open it with the key ring")
        return text

    def blind(self, key: str) -> str:
        return key

    def stale(self, text: str) -> bool:
        return False


class KeyRingSealer:
    """Seals with the deployment's key ring: data key for blobs, blind-index key for blocking keys."""

    def __init__(self, keys: KeyRing) -> None:
        # made (or read) now, never inside a write transaction of the index (SQLite: one writer)
        keys.ensure("data")
        keys.ensure("blind-index")
        keys.active("data")
        keys.active("blind-index")
        self.keys = keys

    def seal(self, text: str, context: str) -> str:
        return self.keys.encrypt(text, f"mpi.{context}")

    def open(self, text: str, context: str) -> str:
        # retired data keys still decrypt (the key ring keeps them); plain rows predate sealing
        return self.keys.decrypt(text, f"mpi.{context}") if is_protected(text) else text

    def blind(self, key: str) -> str:
        return self.keys.blind_index(key, BLOCK_CONTEXT)

    def stale(self, text: str) -> bool:
        return not is_protected(text) or self.keys.key_of(text) != self.keys.active("data").id
