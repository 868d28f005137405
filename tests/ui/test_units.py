"""The cockpit's pure parts: the region map from the simulator's hierarchy, the merged 360° record,
weekly forecasts, the sealed session cookie, and which menu each role gets."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from healthbrain.api.ui.forecasting import forecast_weeks, weekly_counts
from healthbrain.api.ui.nav import menu
from healthbrain.api.ui.record360 import build_record, mask_id
from healthbrain.api.ui.regionmap import county_of, institutions, region_tree, treemap_option
from healthbrain.api.ui.session import SessionCodec, new_session
from healthbrain.api.ui.web import safe_next
from healthbrain.core.db import create_db_engine
from healthbrain.security import KeyRing
from healthbrain.simulation import REGION_FILE, RegionConfig, write_region
from healthbrain.storage.migrate import upgrade_database


@pytest.fixture(scope="module")
def region_orgs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("sim")
    write_region(RegionConfig(patients=30, seed=3), out)
    bundle = json.loads((out / REGION_FILE).read_bytes())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"]


def test_region_map_follows_province_city_county_institution(region_orgs: list[dict[str, object]]) -> None:
    roots = region_tree(region_orgs)
    assert [r.name for r in roots] == ["浙江省"]
    cities = {c.name for c in roots[0].children if c.level == "city"}
    assert cities and cities <= {"衢州市", "丽水市"}
    for city in roots[0].children:
        assert all(c.level in ("county", "institution") for c in city.children)
    providers = institutions(region_orgs)
    counties = county_of(roots)
    # every county-level institution sits under a county; city-level ones (妇幼保健院) under a city
    assert all(counties[p["id"]].startswith("adm-") for p in providers if str(p["id"]) in counties)
    assert len(counties) >= len(providers) - 2
    option = treemap_option(roots, {str(providers[0]["id"]): 40}, {next(iter(counties.values())): 2}, "map")
    data = json.dumps(option, ensure_ascii=False)
    assert "⚠2" in data and any(c.name in data for city in roots[0].children for c in city.children)
    assert '"value": 40' in data.replace(": 40.0", ": 40")


def _patient(pid: str, org: str) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": "徐蕊"}],
        "gender": "female",
        "birthDate": "2014-04-15",
        "managingOrganization": {"reference": f"Organization/{org}"},
        "identifier": [
            {"type": {"coding": [{"code": "NI"}]}, "value": "330802201404155425"},
            {"type": {"coding": [{"code": "MR"}]}, "value": pid[-3:]},
        ],
    }


def _hb(oid: str, pid: str, value: float, when: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"code": "718-7"}], "text": "血红蛋白"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "g/L"},
        "referenceRange": [{"low": {"value": 110}, "high": {"value": 160}}],
        "interpretation": [{"coding": [{"code": "L" if value < 110 else "N"}]}],
    }


def test_record_merges_institutions_and_keeps_each_source() -> None:
    a, b = _patient("h-p-001", "hosp"), _patient("c-p-002", "clinic")
    enc = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/c-p-002"},
        "serviceProvider": {"reference": "Organization/clinic"},
        "period": {"start": "2025-03-01T09:00:00+08:00"},
    }
    record = build_record(
        [a, b],
        {
            "h-p-001": [_hb("o1", "h-p-001", 103, "2025-01-30T11:00:00+08:00")],
            "c-p-002": [_hb("o2", "c-p-002", 130, "2025-07-02T08:00:00+08:00"), enc],
        },
        {"hosp": "县人民医院", "clinic": "社区卫生服务中心"},
    )
    assert record.id_number == "330802********5425"
    assert [r["institution"] for r in record.records] == ["县人民医院", "社区卫生服务中心"]
    (hb,) = record.labs
    assert [(p[1], p[2], p[3]) for p in hb.points] == [
        (103, "县人民医院", "L"),
        (130, "社区卫生服务中心", ""),
    ]
    assert (hb.low, hb.high) == (110, 160)
    assert record.encounters[0].institution == "社区卫生服务中心"
    assert mask_id(None) == ""


def test_weekly_counts_and_forecast_intervals() -> None:
    first = date(2025, 1, 6)  # a Monday
    daily = {(first + timedelta(days=i)).isoformat(): (i % 7) + (3 if i > 60 else 0) for i in range(84)}
    weeks, values = weekly_counts(daily, first, first + timedelta(days=83))
    assert len(weeks) == 12 and values[0] == sum(range(7))
    fc = forecast_weeks(weeks, values)
    assert fc is not None and fc.model == "baseline" and len(fc.horizon_weeks) == 4
    for lo, q1, med, q3, hi in zip(fc.q025, fc.q25, fc.median, fc.q75, fc.q975, strict=True):
        assert 0 <= lo <= q1 <= med <= q3 <= hi
    assert forecast_weeks(weeks, [0.0] * len(weeks)) is None


def test_session_cookie_is_sealed(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'k.db'}")
    upgrade_database(engine)
    keys = KeyRing(engine, "ZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXIta2V5LTMyYiE=")
    keys.ensure("data")
    codec = SessionCodec(keys)
    session = new_session(
        "access.jwt", "refresh", 900, {"roles": ["clinician"], "org": "h1", "prac": "dr1"}, "u1"
    )
    value = codec.dumps(session)
    assert "access.jwt" not in value and codec.loads(value) == session
    assert codec.loads(value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]) is None  # tampered
    assert codec.loads("not-a-session") is None
    engine.dispose()


def test_safe_next_refuses_other_sites() -> None:
    assert safe_next("/ui/alerts") == "/ui/alerts"
    for bad in ("https://evil.example/ui", "//evil.example/ui", "/docs", None, "/ui\\..\\x"):
        assert safe_next(bad) == "/ui/"


def test_each_role_gets_only_its_pages() -> None:
    def keys(*roles: str) -> list[str]:
        return [p.key for p in menu(frozenset(roles))]

    assert keys("clinician") == ["overview", "patients", "alerts", "audit"]
    assert keys("cdc-officer") == ["overview", "patients", "surveillance", "audit"]
    assert keys("regional-officer") == ["overview", "datahub", "audit"]
    assert keys("security-auditor") == ["overview", "audit"]
    assert keys("platform-admin") == ["overview", "surveillance", "datahub"]
    assert keys("index-steward") == ["overview", "patients", "datahub"]
