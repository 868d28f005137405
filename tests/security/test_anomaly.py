"""Access-anomaly detection: each rule on its own, then through the repository on the simulated region
(flagged within 0.3 s, optionally blocking, lifted by an auditor) and over HTTP."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from healthbrain.api.app import create_app
from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.errors import Forbidden, NotFound
from healthbrain.core.settings import Settings
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import HashChainAuditSink, totp
from healthbrain.security import tables as t
from healthbrain.security.anomaly import AnomalyDetector, BlockingPolicy
from healthbrain.security.anomaly_rules import AccessEvent, AnomalySettings, PrincipalState, evaluate
from healthbrain.security.approvals import DataUseApprovals

from regionkit import Region

SYSTEM = system_context()
TZ = ZoneInfo("Asia/Shanghai")
LATENCY = 0.3


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=TZ).timestamp()


def event(
    when: float,
    patients: tuple[str, ...] = (),
    *,
    outcome: str = "success",
    detail: str = "",
    action: str = "read",
    params: tuple[str, ...] = (),
    purpose: str = "TREAT",
    count: int = 1,
) -> AccessEvent:
    return AccessEvent(
        when, "dr-1", "user", purpose, action, "Patient", outcome, detail, patients, params, count, "r"
    )


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


# ---- the rules -----------------------------------------------------------------------------------
def test_a_volume_spike_is_judged_against_the_users_own_baseline() -> None:
    s = AnomalySettings()
    quiet, busy = PrincipalState(), PrincipalState()
    for day in range(2, 12):  # ten working mornings: a few patients every quarter hour
        for quarter in range(4):
            for i in range(6):
                when = at(day, 9, quarter * 15 + i)
                evaluate(quiet, event(when, (f"q{day}-{quarter}-{i}",)), s, frozenset())
                evaluate(
                    busy, event(when, tuple(f"b{day}-{quarter}-{i}-{j}" for j in range(12))), s, frozenset()
                )
    assert quiet.windows >= s.volume_min_windows and quiet.threshold(s) < 30
    # forty records in ten minutes: a spike for the quiet user, ordinary for the busy one
    burst = [event(at(13, 10, m // 4), (f"x{m}",)) for m in range(40)]
    found_quiet = [f for e in burst for f in evaluate(quiet, e, s, frozenset())]
    found_busy = [f for e in burst for f in evaluate(busy, e, s, frozenset())]
    assert (
        rules(found_quiet) == ["volume-spike"]
        and found_quiet[0].detail["patients"] > found_quiet[0].detail["threshold"]
    )
    assert found_busy == []
    # without a baseline only the floor counts
    fresh = PrincipalState()
    assert not [f for e in burst for f in evaluate(fresh, e, s, frozenset())]


def test_off_hours_is_flagged_for_day_workers_only_and_never_in_an_emergency() -> None:
    s = AnomalySettings(off_hours_min_history=100)
    day, night = PrincipalState(), PrincipalState()
    for i in range(150):
        evaluate(day, event(at(2 + i % 10, 9 + i % 8), (f"d{i}",)), s, frozenset())
        evaluate(night, event(at(2 + i % 10, (22 + i % 6) % 24), (f"n{i}",)), s, frozenset())
    three_am = at(20, 3)
    assert rules(evaluate(day, event(three_am, ("p1",)), s, frozenset())) == ["off-hours"]
    assert evaluate(night, event(three_am, ("p1",)), s, frozenset()) == []
    emergency = PrincipalState(hours=list(day.hours))
    assert evaluate(emergency, event(three_am, ("p1",), purpose="ETREAT"), s, frozenset()) == []
    assert evaluate(PrincipalState(), event(three_am, ("p1",)), s, frozenset()) == []  # nothing learned yet


def test_refused_reads_watched_records_and_paging_and_the_cooldown() -> None:
    s = AnomalySettings(refused_threshold=3, paging_threshold=5, cooldown_seconds=600)
    state = PrincipalState()
    refused = [
        event(at(5, 10, i), (f"p{i}",), outcome="failure", detail="security.not_visible") for i in range(3)
    ]
    assert [rules(evaluate(state, e, s, frozenset())) for e in refused] == [[], [], ["no-relationship"]]
    again = event(at(5, 10, 4), ("p9",), outcome="failure", detail="security.not_visible")
    assert evaluate(state, again, s, frozenset()) == []  # within the cooldown
    watched = frozenset({"vip-1", "emp-2"})
    found = evaluate(state, event(at(5, 11), ("a", "vip-1", "emp-2"), action="search"), s, watched)
    assert sorted(f.detail["patient"] for f in found if f.rule == "watched-record") == ["emp-2", "vip-1"]
    pages = [
        event(at(5, 12) + i, ("a",), action="search", params=("code", "_offset"), count=50) for i in range(5)
    ]
    found = [f for e in pages for f in evaluate(state, e, s, frozenset())]
    assert rules(found) == ["bulk-paging"] and found[0].detail == {
        "pages": 5,
        "records": 250,
        "window_seconds": 60.0,
        "resource_type": "Patient",
    }


# ---- through the repository ----------------------------------------------------------------------
@pytest.fixture
def watch(region: Region) -> Iterator[tuple[AnomalyDetector, FhirRepository]]:
    settings = AnomalySettings(
        block_rules=frozenset({"no-relationship"}), refused_threshold=5, paging_threshold=10
    )
    detector = AnomalyDetector(region.engine, settings, region.security.audit)
    region.security.audit.listeners.append(detector.observe)
    options = {
        **region.security.repository_options(),
        "policy": BlockingPolicy(region.security.policy, detector),
    }
    repo = FhirRepository(region.engine, **options, validate=False)
    detector.start()
    yield detector, repo
    detector.stop()
    region.security.audit.listeners.remove(detector.observe)


def stored_within(region: Region, principal: str, rule: str, started: float, timeout: float = 2.0) -> float:
    """Seconds from `started` until the anomaly is readable in security_anomaly."""
    a = t.anomaly.c
    while True:
        with region.engine.connect() as conn:
            row = conn.execute(select(a.id).where(a.principal == principal, a.rule == rule)).first()
        elapsed = time.perf_counter() - started
        if row is not None or elapsed > timeout:
            assert row is not None, f"{rule} was not raised"
            return elapsed
        time.sleep(0.002)


def patients_of(region: Region, org: str) -> list[str]:
    found = run_search(
        region.repo, SYSTEM, "Patient", [("organization", f"Organization/{org}"), ("_count", "40")]
    )
    return [p["id"] for p in found.matches]


def clinician(region: Region, name: str) -> RequestContext:
    return region.ctx({"clinician"}, region.hospital_a, principal=name)


def test_browsing_other_institutions_records_is_flagged_in_time_and_blocks(
    region: Region, watch: Any
) -> None:
    detector, repo = watch
    ctx = clinician(region, "dr-browse")
    refused = 0
    started = 0.0
    for pid in patients_of(region, region.hospital_b):
        started = time.perf_counter()
        try:
            repo.read(ctx, "Patient", pid)
        except NotFound:
            refused += 1
        if refused == 5:
            break
    assert refused == 5
    assert stored_within(region, "dr-browse", "no-relationship", started) < LATENCY
    own = patients_of(region, region.hospital_a)[0]
    with pytest.raises(Forbidden) as err:  # suspended, even for the institution's own patients
        repo.read(ctx, "Patient", own)
    assert err.value.code == "security.blocked"
    assert repo.read(clinician(region, "dr-other"), "Patient", own).id == own  # nobody else is
    approvals = DataUseApprovals(
        region.engine, region.security.orgs, region.security.audit, gate=detector.check
    )
    with pytest.raises(Forbidden) as err:  # nor may it ask for data for research
        approvals.submit(ctx, PurposeOfUse.RESEARCH, "被暂停的账号提交的研究申请", {})
    assert err.value.code == "security.blocked"
    a = t.anomaly.c
    with region.engine.connect() as conn:
        row = conn.execute(select(t.anomaly).where(a.principal == "dr-browse")).one()
    assert row.blocked and row.status == "open" and row.severity == "medium" and "security" not in row.detail
    auditor = region.ctx({"security-auditor"}, None, PurposeOfUse.OPERATIONS, principal="auditor-1")
    detector.resolve(auditor, row.id, "acknowledged")
    assert repo.read(ctx, "Patient", own).id == own


def test_a_tagged_vip_record_is_flagged_on_read_and_in_search_results(region: Region, watch: Any) -> None:
    detector, repo = watch
    vip = patients_of(region, region.hospital_a)[3]
    current = region.repo.read(SYSTEM, "Patient", vip).resource or {}
    tagged = {
        **current,
        "meta": {"tag": [{"system": "https://healthbrain.dev/fhir/CodeSystem/record-watch", "code": "vip"}]},
    }
    region.repo.update(SYSTEM, "Patient", vip, tagged)
    detector.refresh()
    assert vip in detector.watched
    started = time.perf_counter()
    repo.read(clinician(region, "dr-curious"), "Patient", vip)
    assert stored_within(region, "dr-curious", "watched-record", started) < LATENCY
    started = time.perf_counter()
    run_search(
        repo,
        clinician(region, "dr-lister"),
        "Patient",
        [("organization", f"Organization/{region.hospital_a}"), ("_count", "50")],
    )
    assert stored_within(region, "dr-lister", "watched-record", started) < LATENCY


def test_paging_through_a_search_quickly_is_flagged(region: Region, watch: Any) -> None:
    ctx = clinician(region, "dr-pager")
    started = 0.0
    for page in range(10):
        started = time.perf_counter()
        run_search(watch[1], ctx, "Observation", [("_count", "2"), ("_offset", str(2 * page))])
    assert stored_within(region, "dr-pager", "bulk-paging", started) < LATENCY


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_system_jobs_and_institution_systems_are_not_judged_and_baselines_warm_from_the_audit_trail(
    region: Region, watch: Any
) -> None:
    detector, repo = watch
    his = RequestContext(
        Principal(
            "his-a", "client", frozenset({"institution-system"}), region.hospital_a, frozenset({"system/*.*"})
        )
    )
    for pid in patients_of(region, region.hospital_b)[:8]:
        for ctx in (SYSTEM, his):
            with contextlib.suppress(NotFound):
                repo.read(ctx, "Patient", pid)
    assert not detector.is_blocked("his-a") and not detector.is_blocked("system")
    # yesterday's trail, as another process of the deployment wrote it: three patients a quarter hour
    clock = Clock(time.time() - 86400)
    sink = HashChainAuditSink(region.engine, region.security.keys, clock=clock)
    user = RequestContext(Principal("dr-history", "user", frozenset({"clinician"}), region.hospital_a))
    for window in range(10):
        for i in range(3):
            sink.record(
                user, AuditEntry("read", "Patient", f"p{window}-{i}", "success", patients=(f"p{window}-{i}",))
            )
        clock.now += 900
    sink.flush()
    fresh = AnomalyDetector(region.engine)
    assert fresh.warm_up(time.time() - 2 * 86400) >= 30
    state = fresh._states["dr-history"]
    assert state.windows >= 8 and state.threshold(fresh.settings) == fresh.settings.volume_minimum
    assert region.security.verify_audit().ok  # the chain stays intact with two writers


# ---- over HTTP -----------------------------------------------------------------------------------
PASSWORD = "Correct-Horse-7"


def org(oid: str, parent: str | None, level: str | None = None) -> dict[str, Any]:
    coding = (
        [{"system": "https://healthbrain.dev/fhir/CodeSystem/admin-level", "code": level}]
        if level
        else [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]
    )
    res: dict[str, Any] = {
        "resourceType": "Organization",
        "id": oid,
        "name": oid,
        "active": True,
        "type": [{"coding": coding}],
    }
    if parent:
        res["partOf"] = {"reference": f"Organization/{parent}"}
    return res


def sign_in(client: TestClient, username: str, roles: list[str], organization: str) -> dict[str, str]:
    security = client.app.state.hb.security  # type: ignore[attr-defined]
    secret = security.identity.create_user(username, PASSWORD, roles, organization).totp_secret
    r = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD, "totp": totp(secret)},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_anomalies_reach_the_auditor_over_http_within_the_latency(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db_url, export_dir=str(tmp_path / "export"))
    with TestClient(create_app(settings)) as client:
        dev = {"Authorization": "Bearer dev-token"}
        for o in (org("prov", None, "province"), org("hosp-a", "prov"), org("hosp-b", "prov")):
            client.put(f"/fhir/R4/Organization/{o['id']}", json=o, headers=dev)
        theirs = [
            client.post(
                "/fhir/R4/Patient",
                headers=dev,
                json={
                    "resourceType": "Patient",
                    "managingOrganization": {"reference": "Organization/hosp-b"},
                },
            ).json()["id"]
            for _ in range(5)
        ]
        doctor = sign_in(client, "dr.nosy", ["clinician"], "hosp-a")
        auditor = sign_in(client, "auditor", ["security-auditor"], "prov")
        started = 0.0
        for pid in theirs:
            started = time.perf_counter()
            assert client.get(f"/fhir/R4/Patient/{pid}", headers=doctor).status_code == 404
        while True:
            listed = client.get("/api/v1/security/anomalies", headers=auditor).json()["anomalies"]
            hits = [a for a in listed if a["rule"] == "no-relationship"]
            if hits or time.perf_counter() - started > 2:
                break
        elapsed = time.perf_counter() - started
        assert hits and elapsed < LATENCY, elapsed
        rules_doc = client.get("/api/v1/governance/anomaly-rules", headers=auditor).json()
        assert {r["rule"] for r in rules_doc["rules"]} >= {"no-relationship", "volume-spike", "off-hours"}
        assert client.get("/api/v1/governance/anomaly-rules", headers=doctor).status_code == 403
        url = f"/api/v1/governance/anomalies/{hits[0]['id']}/$resolve"
        assert client.post(url, json={"status": "closed"}, headers=auditor).status_code == 400
        assert client.post(url, json={"status": "acknowledged"}, headers=doctor).status_code == 403
        assert client.post(url, json={"status": "acknowledged"}, headers=auditor).status_code == 200
        assert client.post(url, json={"status": "dismissed"}, headers=auditor).status_code == 409
        listed = client.get("/api/v1/security/anomalies", headers=auditor).json()["anomalies"]
        assert hits[0]["id"] not in {a["id"] for a in listed}
