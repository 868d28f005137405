"""Envelope encryption (AES-256-GCM or SM4-GCM), the key hierarchy, and blind indexes.

The master key (key-encryption key, from the settings or an HSM) wraps every other key; data keys
encrypt values; the blind-index key makes keyed hashes that let exact-match search work on encrypted
values. Keys rotate: a new key encrypts, retired keys still decrypt, and `KeyRing.rotate` plus a
re-encryption pass move old values to the new key online.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from healthbrain.core.db import begin_write
from healthbrain.core.errors import HealthBrainError
from healthbrain.security import tables as t

__all__ = ["CryptoError", "KeyRing", "StoredKey", "decrypt_with", "encrypt_with", "is_protected"]

PREFIX = "hb1"
# symmetric key purposes and their algorithm (None: the configured cipher)
SYMMETRIC: dict[str, str | None] = {"data": None, "blind-index": "hmac-sha256", "audit": "hmac"}
NONCE = 12
TAG = 16


class CryptoError(HealthBrainError):
    """A value could not be decrypted (wrong key, tampered ciphertext)."""

    status = 500
    code = "security.crypto"


def _sm4_key(key: bytes) -> bytes:
    # SM4 keys are 128 bits; keys of the hierarchy are 256 bits, so SM4 uses a derived half.
    return hashlib.sha256(b"healthbrain-sm4" + key).digest()[:16]


def encrypt_with(key: bytes, algorithm: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    """nonce || ciphertext || tag under AES-256-GCM or SM4-GCM."""
    nonce = os.urandom(NONCE)
    if algorithm == "aes-256-gcm":
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad or None)
    if algorithm == "sm4-gcm":
        enc = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce)).encryptor()
        if aad:
            enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return nonce + body + enc.tag
    raise ValueError(f"unknown cipher {algorithm}")


def decrypt_with(key: bytes, algorithm: str, blob: bytes, aad: bytes = b"") -> bytes:
    """Inverse of `encrypt_with`; raises CryptoError when the tag does not verify."""
    nonce, body = blob[:NONCE], blob[NONCE:]
    try:
        if algorithm == "aes-256-gcm":
            return AESGCM(key).decrypt(nonce, body, aad or None)
        if algorithm == "sm4-gcm":
            dec = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce, body[-TAG:])).decryptor()
            if aad:
                dec.authenticate_additional_data(aad)
            return dec.update(body[:-TAG]) + dec.finalize()
    except (InvalidTag, ValueError) as exc:
        raise CryptoError("a protected value could not be decrypted") from exc
    raise ValueError(f"unknown cipher {algorithm}")


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One key of the hierarchy, unwrapped in memory."""

    id: str
    purpose: str
    algorithm: str
    secret: bytes
    public: str | None
    created_at: float
    retired_at: float | None


class KeyRing:
    """The keys of one deployment, wrapped by the master key in `security_key`."""

    def __init__(self, engine: Engine, master_key_b64: str, cipher: str = "aes-256-gcm") -> None:
        master = base64.b64decode(master_key_b64)
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes (base64)")
        self.engine = engine
        self.master = master
        self.cipher = cipher
        self._lock = threading.Lock()
        self._cache: dict[str, StoredKey] = {}
        self._active: dict[str, StoredKey] = {}

    # ---- wrapping --------------------------------------------------------------------------------
    def _wrap(self, secret: bytes, kid: str) -> str:
        return base64.b64encode(encrypt_with(self.master, "aes-256-gcm", secret, kid.encode())).decode()

    def _unwrap(self, wrapped: str, kid: str) -> bytes:
        return decrypt_with(self.master, "aes-256-gcm", base64.b64decode(wrapped), kid.encode())

    # ---- keys ------------------------------------------------------------------------------------
    def create(self, purpose: str, secret: bytes, *, algorithm: str, public: str | None = None) -> StoredKey:
        """Store a new key of `purpose`; it becomes the active one."""
        kid = f"{purpose}-{uuid.uuid4().hex[:12]}"
        now = time.time()
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.key).values(
                    id=kid,
                    purpose=purpose,
                    algorithm=algorithm,
                    wrapped=self._wrap(secret, kid),
                    public=public,
                    created_at=now,
                )
            )
        stored = StoredKey(kid, purpose, algorithm, secret, public, now, None)
        with self._lock:
            self._cache[kid] = stored
        return stored

    def keys(self, purpose: str) -> list[StoredKey]:
        """Every key of `purpose`, newest first (retired ones included)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.key).where(t.key.c.purpose == purpose).order_by(t.key.c.created_at.desc())
            ).all()
        out = []
        for row in rows:
            cached = self._cache.get(row.id)
            if cached is None or cached.retired_at != row.retired_at:
                cached = StoredKey(
                    row.id,
                    row.purpose,
                    row.algorithm,
                    self._unwrap(row.wrapped, row.id),
                    row.public,
                    row.created_at,
                    row.retired_at,
                )
                with self._lock:
                    self._cache[row.id] = cached
            out.append(cached)
        return out

    def get(self, kid: str) -> StoredKey | None:
        cached = self._cache.get(kid)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(select(t.key).where(t.key.c.id == kid)).first()
        if row is None:
            return None
        return next((k for k in self.keys(row.purpose) if k.id == kid), None)

    def active(self, purpose: str) -> StoredKey:
        """The newest unretired key of a symmetric `purpose` (data, blind-index, audit), made on first use."""
        if purpose not in SYMMETRIC:
            raise ValueError(f"{purpose} keys are signing keys")
        with self._lock:
            active = self._active.get(purpose)
        if active is not None:
            return active
        found = next((k for k in self.keys(purpose) if k.retired_at is None), None)
        if found is None:
            found = self.create(purpose, os.urandom(32), algorithm=SYMMETRIC[purpose] or self.cipher)
        with self._lock:
            self._active[purpose] = found
        return found

    def ensure(self, purpose: str) -> StoredKey:
        """Make the first key of `purpose` if there is none, race-free across processes.

        The first key has a fixed id, so two processes starting together cannot both make one (the
        loser's insert fails and it reads the winner's). Called at start-up: keys are then never made
        inside another write transaction (SQLite has a single writer).
        """
        existing = [k for k in self.keys(purpose) if k.retired_at is None]
        if existing:
            return existing[0]
        kid = f"{purpose}-0"
        if purpose in SYMMETRIC:
            secret, algorithm, public = os.urandom(32), SYMMETRIC[purpose] or self.cipher, None
        else:
            private = Ed25519PrivateKey.generate()
            secret, algorithm = private.private_bytes_raw(), "EdDSA"
            public = (
                private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
            )
        try:
            with begin_write(self.engine) as conn:
                conn.execute(
                    insert(t.key).values(
                        id=kid,
                        purpose=purpose,
                        algorithm=algorithm,
                        wrapped=self._wrap(secret, kid),
                        public=public,
                        created_at=time.time(),
                    )
                )
        except IntegrityError:
            pass  # another process made it first
        found = [k for k in self.keys(purpose) if k.retired_at is None]
        return found[0]

    def signing_key(self, purpose: str = "signing") -> StoredKey:
        """The active Ed25519 key of `purpose` (signing: tokens; audit-signing: checkpoints)."""
        with self._lock:
            active = self._active.get(purpose)
        if active is not None:
            return active
        found = next((k for k in self.keys(purpose) if k.retired_at is None), None)
        if found is None:
            found = self._new_signing_key(purpose)
        with self._lock:
            self._active[purpose] = found
        return found

    def _new_signing_key(self, purpose: str) -> StoredKey:
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        return self.create(purpose, private.private_bytes_raw(), algorithm="EdDSA", public=public)

    def retire(self, kid: str) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(update(t.key).where(t.key.c.id == kid).values(retired_at=time.time()))
        with self._lock:
            self._cache.pop(kid, None)
            self._active.clear()

    def rotate(self, purpose: str) -> StoredKey:
        """A new key of `purpose` is used from now on; the old ones stay to decrypt and verify."""
        old = [k for k in self.keys(purpose) if k.retired_at is None]
        if purpose in SYMMETRIC:
            new = self.create(purpose, os.urandom(32), algorithm=SYMMETRIC[purpose] or self.cipher)
        else:
            new = self._new_signing_key(purpose)
        for k in old:
            self.retire(k.id)
        with self._lock:
            self._active[purpose] = new
        return new

    # ---- values ----------------------------------------------------------------------------------
    def encrypt(self, plaintext: str, context: str = "") -> str:
        """`hb1:<kid>:<b64>` under the active data key; `context` is bound as associated data."""
        k = self.active("data")
        blob = encrypt_with(k.secret, k.algorithm, plaintext.encode(), context.encode())
        return f"{PREFIX}:{k.id}:{base64.b64encode(blob).decode()}"

    def decrypt(self, token: str, context: str = "") -> str:
        prefix, kid, b64 = _split(token)
        k = self.get(kid)
        if prefix != PREFIX or k is None:
            raise CryptoError("a protected value uses an unknown key")
        return decrypt_with(k.secret, k.algorithm, base64.b64decode(b64), context.encode()).decode()

    def key_of(self, token: str) -> str:
        return _split(token)[1]

    def blind_index(self, value: str, context: str) -> str:
        """A keyed hash for exact-match search: equal inputs give equal outputs, nothing else leaks."""
        k = self.active("blind-index")
        return hmac.new(k.secret, f"{context}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:40]


def is_protected(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3:
        raise CryptoError("a protected value is malformed")
    return parts[0], parts[1], parts[2]
