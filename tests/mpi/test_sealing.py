"""The patient index's identifying rows sealed at rest, on SQLite and PostgreSQL: nothing readable in
its tables, matching unchanged, retired data keys still open, and re-sealing after a rotation."""

from __future__ import annotations

import base64
import os
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from healthbrain.core.db import create_db_engine
from healthbrain.mpi import (
    KeyRingSealer,
    PatientIndex,
    SealedWithoutKeys,
    match,
    open_index,
    parse_match_request,
    relink,
    reseal,
)
from healthbrain.mpi import tables as mt
from healthbrain.security import KeyRing
from healthbrain.simulation import RegionConfig, make_id_card, simulate_region
from healthbrain.storage.migrate import upgrade_database

ID_CARD = "urn:oid:2.16.156.10011.1.1"


@pytest.fixture(scope="module")
def patients() -> list[dict[str, Any]]:
    region = simulate_region(RegionConfig(patients=150, seed=33, noise_rate=0.3, duplicate_rate=0.08))
    return [r for r in region.resources() if r["resourceType"] == "Patient"]


def _keys(engine: Engine) -> KeyRing:
    return KeyRing(engine, base64.b64encode(os.urandom(32)).decode())


def _plain_engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    upgrade_database(engine)
    return engine


def _identifiers(patients: list[dict[str, Any]]) -> set[str]:
    """Every name, 身份证 number, phone number and street address the Patients carry."""
    out: set[str] = set()
    for p in patients:
        for n in p.get("name", []):
            out.add(n.get("text") or n.get("family", "") + "".join(n.get("given", [])))
        out.update(i["value"] for i in p.get("identifier", []) if i.get("system") == ID_CARD)
        out.update(t["value"] for t in p.get("telecom", []) if t.get("system") == "phone")
        out.update(a["text"] for a in p.get("address", []) if a.get("text"))
    return {v for v in out if len(v) >= 2}


def _dump(engine: Engine) -> str:
    """Every value of every mpi_ table, as text."""
    with engine.connect() as conn:
        return "\n".join(
            "\x1f".join(str(v) for v in row)
            for table in mt.metadata.sorted_tables
            for row in conn.execute(select(table))
        )


def _partition(index: PatientIndex) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    with index.engine.connect() as conn:
        for row in index.store.all_links(conn):
            groups[row.resident_id].append(row.patient_ref)
    return sorted(sorted(g) for g in groups.values())


def _load(index: PatientIndex, patients: list[dict[str, Any]]) -> None:
    for p in patients:
        index.ingest(p, 1)


def test_no_mpi_table_holds_a_name_id_number_or_phone_in_the_clear(
    engine: Engine, patients: list[dict[str, Any]], tmp_path: Path
) -> None:
    sealed = open_index(engine, sealer=KeyRingSealer(_keys(engine)))
    _load(sealed, patients)
    relink(sealed, train=True)  # stores a model, whose term-frequency table lists names
    secrets = _identifiers(patients)
    dump = _dump(engine)
    assert dump and not [v for v in secrets if v in dump]
    # the same search finds them all in an index kept unsealed: the dump is the whole story
    plain = open_index(_plain_engine(tmp_path))
    _load(plain, patients)
    relink(plain, train=True)
    plain_dump = _dump(plain.engine)
    assert all(v in plain_dump for v in secrets)
    # and the sealed rows still read back as the records and golden records they are
    with engine.connect() as conn:
        links = sealed.store.all_links(conn)
        golden = sealed.store.resident(conn, links[0].resident_id)
    assert {link.record.id_number for link in links} <= secrets | {""}
    assert golden is not None and golden.golden["name"] in secrets


def test_a_sealed_index_links_and_scores_exactly_like_an_unsealed_one(
    engine: Engine, patients: list[dict[str, Any]], tmp_path: Path
) -> None:
    sealed = open_index(engine, sealer=KeyRingSealer(_keys(engine)))
    plain = open_index(_plain_engine(tmp_path))
    _load(sealed, patients)
    _load(plain, patients)
    assert _partition(sealed) == _partition(plain)
    assert len(_partition(sealed)) < len(patients)  # duplicates were found through blind keys
    scored = 0
    for probe in patients[::7]:  # Patient/$match: every candidate, its probability, grade and evidence
        body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": probe}]}
        ours = [
            (c.patient_ref, c.probability, c.grade, c.fields)
            for c in match(sealed, parse_match_request(body))
        ]
        theirs = [
            (c.patient_ref, c.probability, c.grade, c.fields) for c in match(plain, parse_match_request(body))
        ]
        assert ours == theirs
        scored += len(ours)
    assert scored > len(patients) // 7
    incremental = _partition(sealed)
    relink(sealed)
    assert _partition(sealed) == incremental


def _person(pid: str, name: str, serial: int, phone: str) -> dict[str, Any]:
    born = date(1979, 11, 2)
    return {
        "resourceType": "Patient", "id": pid, "name": [{"text": name}], "gender": "female",
        "birthDate": born.isoformat(), "telecom": [{"system": "phone", "value": phone}],
        "identifier": [{"system": ID_CARD, "value": make_id_card("330802", born, serial)}],
    }  # fmt: skip


def test_rows_under_a_retired_data_key_still_open_and_reseal_moves_them_to_the_new_key(
    engine: Engine, patients: list[dict[str, Any]]
) -> None:
    keys = _keys(engine)
    index = open_index(engine, sealer=KeyRingSealer(keys))
    half = len(patients) // 2
    _load(index, patients[:half])
    before = keys.active("data").id
    keys.rotate("data")
    # a record under the retired key still opens, and still finds the newcomer's resident
    old = index.ingest(_person("old-1", "何静怡", 62, "13905701234"), 1)
    keys.rotate("data")
    new = index.ingest(_person("new-1", "何靜怡", 62, "13905701234"), 1)  # traditional 靜
    assert new.resident_id == old.resident_id and new.state == "auto"
    _load(index, patients[half:])
    partition = _partition(index)
    with engine.connect() as conn:
        texts = [r.record for r in conn.execute(select(mt.link.c.record))]
    assert any(keys.key_of(t) == before for t in texts)
    summary = reseal(index, batch=50)
    assert summary.records == half + 1 and summary.residents > 0
    with engine.connect() as conn:
        texts = [r.record for r in conn.execute(select(mt.link.c.record))]
        texts += [r.golden for r in conn.execute(select(mt.resident.c.golden))]
    active = keys.active("data").id
    assert all(keys.key_of(t) == active for t in texts)
    assert reseal(index).total == 0  # nothing left to do: safe to run twice
    assert _partition(index) == partition
    again = index.ingest(_person("new-2", "何静怡", 62, "13905701234"), 1)
    assert again.resident_id == old.resident_id


def test_an_index_kept_unsealed_is_sealed_in_place_and_still_matches(
    engine: Engine, patients: list[dict[str, Any]]
) -> None:
    _load(open_index(engine), patients)  # as written before sealing was turned on
    index = open_index(engine, sealer=KeyRingSealer(_keys(engine)))
    partition = _partition(index)  # plain rows read back through the sealing index
    summary = reseal(index)
    assert summary.records == len(patients)
    assert not [v for v in _identifiers(patients) if v in _dump(engine)]
    assert _partition(index) == partition
    # blocking keys were rebuilt as blind indexes: a re-registration still finds its resident
    first = patients[0]
    outcome = index.ingest({**first, "id": f"{first['id']}-again"}, 1)
    with engine.connect() as conn:
        link = index.store.link_of(conn, f"Patient/{first['id']}")
    assert link is not None and outcome.resident_id == link.resident_id


def test_an_index_opened_without_the_key_ring_refuses_sealed_rows(
    engine: Engine, patients: list[dict[str, Any]]
) -> None:
    open_index(engine, sealer=KeyRingSealer(_keys(engine))).ingest(patients[0], 1)
    with pytest.raises(SealedWithoutKeys), engine.connect() as conn:
        open_index(engine).store.all_links(conn)
