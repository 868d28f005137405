"""Identifiers at rest: 身份证, phones, names and street addresses are sealed in every table, yet searchable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.reading import run_history, run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import SecurityServices, reencrypt

CTX = system_context()
ID_CARD = "330802201404155425"
PHONE = "13912345678"
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [
        {"system": "urn:oid:2.16.156.10011.1.1", "value": ID_CARD},
        {"system": "https://hosp-a/mrn", "value": "MRN-0001"},
    ],
    "name": [{"use": "official", "text": "欧阳娜娜", "family": "欧阳", "given": ["娜娜"]}],
    "telecom": [{"system": "phone", "value": PHONE, "use": "mobile"}],
    "address": [
        {
            "text": "浙江省衢州市柯城区人民路24号",
            "line": ["人民路24号"],
            "city": "衢州市",
            "district": "柯城区",
        }
    ],
    "gender": "female",
    "birthDate": "2014-04-15",
}


@pytest.fixture(params=["aes-256-gcm", "sm4-gcm"])
def sealed(
    request: pytest.FixtureRequest, db_url: str
) -> Iterator[tuple[Engine, FhirRepository, SecurityServices]]:
    engine = create_db_engine(db_url)
    security = SecurityServices.build(engine, SecuritySettings(cipher=request.param))
    yield engine, FhirRepository(engine, **security.repository_options()), security
    security.audit.stop()
    engine.dispose()


def dump_tables(engine: Engine) -> str:
    """Every text value of the FHIR store's tables, as one string."""
    out = []
    with engine.connect() as conn:
        for table in ("fhir_resource", "fhir_resource_version", "fhir_idx_string", "fhir_idx_token"):
            for row in conn.execute(text(f"select * from {table}")):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def test_nothing_identifying_is_stored_in_the_clear(sealed: Any) -> None:
    engine, repo, _ = sealed
    pid = repo.create(CTX, PATIENT).version.id
    repo.update(CTX, "Patient", pid, {**PATIENT, "id": pid, "active": True})
    stored = dump_tables(engine)
    for secret in (ID_CARD, PHONE, "欧阳娜娜", "娜娜", "人民路24号"):
        assert secret not in stored
    assert "MRN-0001" in stored and "柯城区" in stored  # local ids and district stay searchable in the clear
    back = repo.read(CTX, "Patient", pid).resource
    assert (
        back is not None
        and back["identifier"][0]["value"] == ID_CARD
        and back["name"][0]["text"] == "欧阳娜娜"
    )
    versions = run_history(repo, CTX, "Patient", pid, []).versions
    assert all(ID_CARD in (v.content or "") for v in versions)


def test_exact_prefix_and_contains_searches_still_work(sealed: Any) -> None:
    _, repo, _ = sealed
    pid = repo.create(CTX, PATIENT).version.id
    repo.create(
        CTX,
        {
            **PATIENT,
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.1", "value": "1" * 18}],
            "name": [{"family": "张", "given": ["伟"]}],
            "telecom": [],
            "address": [{"line": ["解放路1号"], "city": "丽水市"}],
        },
    )
    probes = [
        [("identifier", f"urn:oid:2.16.156.10011.1.1|{ID_CARD}")],
        [("identifier", ID_CARD)],
        [("identifier", "https://hosp-a/mrn|MRN-0001")],
        [("phone", PHONE)],
        [("telecom", f"phone|{PHONE}")],
        [("family", "欧阳")],
        [("family", "欧")],
        [("name", "欧阳娜娜")],
        [("name:contains", "娜")],
        [("name:exact", "欧阳娜娜")],
        [("given", "娜娜")],
        [("address", "人民路")],
        [("address-city", "衢州")],
    ]
    for params in probes:
        found = [m["id"] for m in run_search(repo, CTX, "Patient", params).matches]
        assert found == [pid], params
    assert run_search(repo, CTX, "Patient", [("name:contains", "伟")]).matches[0]["name"][0]["family"] == "张"
    assert run_search(repo, CTX, "Patient", [("family", "阳娜")]).matches == []  # not a prefix
    chained = run_search(repo, CTX, "Patient", [("identifier", "9" * 18)])
    assert chained.matches == []


def test_rotation_and_online_reencryption(sealed: Any) -> None:
    engine, repo, security = sealed
    pid = repo.create(CTX, PATIENT).version.id
    old_key = security.keys.active("data").id
    security.keys.rotate("data")
    moved = reencrypt(engine, security.keys)
    assert moved >= 5
    stored = dump_tables(engine)
    # sealed values are tagged "hb1:<key id>:"; the first key's id ("data-0") is a prefix of some others
    assert f"hb1:{old_key}:" not in stored and f"hb1:{security.keys.active('data').id}:" in stored
    assert repo.read(CTX, "Patient", pid).resource["telecom"][0]["value"] == PHONE  # type: ignore[index]
    assert [m["id"] for m in run_search(repo, CTX, "Patient", [("phone", PHONE)]).matches] == [pid]
    assert reencrypt(engine, security.keys) == 0
