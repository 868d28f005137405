"""Accounts, MFA, lockout and tokens: what an attacker tries, and what a user relies on."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import jwt
import orjson
import pytest

from healthbrain.core.db import create_db_engine
from healthbrain.core.errors import InvalidInput, Unauthorized
from healthbrain.core.settings import SecuritySettings
from healthbrain.security import SecurityServices
from healthbrain.security.totp import totp, verify_totp

PASSWORD = "Correct-Horse-7"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def services(db_url: str) -> Iterator[tuple[SecurityServices, Clock]]:
    engine = create_db_engine(db_url)
    clock = Clock()
    yield (
        SecurityServices.build(engine, SecuritySettings(max_failed_logins=3, lockout_seconds=600), clock),
        clock,
    )
    engine.dispose()


def test_rfc6238_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated to 6 digits
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, 59) == "287082"
    assert totp(secret, 1111111109) == "081804"
    assert totp(secret, 2000000000) == "279037"
    assert verify_totp(secret, "287082", at=59 + 30) is not None  # one step of drift is tolerated
    assert verify_totp(secret, "287082", at=59 + 120) is None


def test_password_rules_and_mfa_enrolment(services: Any) -> None:
    sec, _ = services
    with pytest.raises(InvalidInput):
        sec.identity.create_user("weak", "password", ["clinician"], "hosp-a")
    with pytest.raises(InvalidInput):
        sec.identity.create_user("odd", PASSWORD, ["wizard"], "hosp-a")
    enrolled = sec.identity.create_user("dr.li", PASSWORD, ["clinician"], "hosp-a", practitioner="prac-1")
    assert enrolled.totp_secret and enrolled.totp_uri and enrolled.totp_uri.startswith("otpauth://totp/")
    # a data scientist reads no identified data: no second factor is forced on them
    assert sec.identity.create_user("ds", PASSWORD, ["data-scientist"], "region").totp_secret is None


def test_sign_in_with_totp_once_and_lockout(services: Any) -> None:
    sec, clock = services
    secret = sec.identity.create_user("dr.wang", PASSWORD, ["clinician"], "hosp-a").totp_secret
    with pytest.raises(Unauthorized):
        sec.identity.password_grant("dr.wang", PASSWORD, None, None)  # the code is required
    code = totp(secret, clock.now)
    issued = sec.identity.password_grant("dr.wang", PASSWORD, code, None)
    claims = sec.tokens.verify(issued.access_token)
    assert claims["roles"] == ["clinician"] and claims["org"] == "hosp-a" and claims["mfa"] is True
    with pytest.raises(Unauthorized) as err:
        sec.identity.password_grant("dr.wang", PASSWORD, code, None)  # the same code again: replay
    assert err.value.message == "invalid credentials"
    clock.now += 30
    for _ in range(3):
        with pytest.raises(Unauthorized):
            sec.identity.password_grant("dr.wang", "Wrong-Password-1", totp(secret, clock.now), None)
    with pytest.raises(Unauthorized) as err:  # locked: even the right password fails, saying the same
        sec.identity.password_grant("dr.wang", PASSWORD, totp(secret, clock.now), None)
    assert err.value.message == "invalid credentials"
    with pytest.raises(Unauthorized):  # the lockout revoked the session that was open
        sec.tokens.verify(issued.access_token)
    clock.now += 601
    assert sec.identity.password_grant("dr.wang", PASSWORD, totp(secret, clock.now), None).access_token
    with pytest.raises(Unauthorized) as err:
        sec.identity.password_grant("nobody", PASSWORD, None, None)
    assert err.value.message == "invalid credentials"


def forge(token: str, **changes: Any) -> str:
    head, body, sig = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    new_body = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    return f"{head}.{new_body}.{sig}"


def test_tampered_expired_foreign_and_unsigned_tokens_are_refused(services: Any) -> None:
    sec, clock = services
    cid, secret = sec.identity.create_client(
        "LIS", "hosp-a", ["institution-system"], ["system/Observation.write"]
    )
    token = sec.identity.client_grant(cid, secret, None).access_token
    assert sec.tokens.verify(token)["kind"] == "client"
    refused = [
        forge(token, roles=["system"]),  # a changed claim breaks the signature
        jwt.encode(
            {
                "sub": cid,
                "sid": "x",
                "aud": "healthbrain",
                "iss": "https://healthbrain.local",
                "iat": 1,
                "exp": 9999999999,
            },
            key="",
            algorithm="none",
        ),
        jwt.encode(
            {"sub": cid, "sid": "x", "exp": 9999999999},
            "a-guessed-secret-of-thirty-two-bytes!",
            algorithm="HS256",
            headers={"kid": "k"},
        ),
        "not.a.token",
    ]
    for bad in refused:
        with pytest.raises(Unauthorized) as err:
            sec.tokens.verify(bad)
        assert err.value.message == "the access token is not valid"
    clock.now += sec.settings.access_token_seconds + 10
    with pytest.raises(Unauthorized):
        sec.tokens.verify(token)  # expired
    with pytest.raises(Unauthorized):
        sec.identity.client_grant(cid, "wrong", None)
    with pytest.raises(Unauthorized):
        sec.identity.client_grant(cid, secret, "system/Patient.read")  # a scope the client does not have


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(services: Any) -> None:
    sec, clock = services
    secret = sec.identity.create_user("dr.zhao", PASSWORD, ["clinician"], "hosp-a").totp_secret
    issued = sec.identity.password_grant(
        "dr.zhao", PASSWORD, totp(secret, clock.now), "user/Observation.read"
    )
    assert issued.scope == "user/Observation.read"
    renewed = sec.tokens.refresh(issued.refresh_token, sec.identity.principal_of)
    assert renewed.refresh_token != issued.refresh_token
    assert sec.tokens.verify(renewed.access_token)["scope"] == "user/Observation.read"
    with pytest.raises(Unauthorized):
        sec.tokens.refresh(issued.refresh_token, sec.identity.principal_of)  # stolen and replayed
    with pytest.raises(Unauthorized):
        sec.tokens.verify(renewed.access_token)  # the whole session was revoked
    with pytest.raises(Unauthorized):
        sec.tokens.refresh(renewed.refresh_token, sec.identity.principal_of)


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(services: Any) -> None:
    sec, _ = services
    cid, secret = sec.identity.create_client("HIS", "hosp-a", ["institution-system"], ["system/*.*"])
    old = sec.identity.client_grant(cid, secret, None).access_token
    old_kid = jwt.get_unverified_header(old)["kid"]
    sec.keys.rotate("signing")
    new = sec.identity.client_grant(cid, secret, None).access_token
    assert jwt.get_unverified_header(new)["kid"] != old_kid
    assert sec.tokens.verify(old)["sub"] == sec.tokens.verify(new)["sub"] == cid
    assert {k["kid"] for k in sec.tokens.jwks()["keys"]} >= {old_kid, jwt.get_unverified_header(new)["kid"]}
    sec.tokens.revoke_subject(cid)
    with pytest.raises(Unauthorized):
        sec.tokens.verify(new)


def test_values_encrypt_with_either_cipher_and_survive_data_key_rotation(db_url: str) -> None:
    for cipher in ("aes-256-gcm", "sm4-gcm"):
        engine = create_db_engine(db_url)
        sec = SecurityServices.build(engine, SecuritySettings(cipher=cipher))
        sealed = sec.keys.encrypt("330802201404155425", "Patient.identifier")
        assert "330802201404155425" not in sealed
        sec.keys.rotate("data")
        assert sec.keys.decrypt(sealed, "Patient.identifier") == "330802201404155425"
        assert sec.keys.key_of(sec.keys.encrypt("x")) != sec.keys.key_of(sealed)
        assert sec.keys.blind_index("13800000000", "phone") == sec.keys.blind_index("13800000000", "phone")
        engine.dispose()
