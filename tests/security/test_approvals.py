"""Data-use requests: three approvals in order by the right people, then a de-identified export of the
consented patients only, every step in the audit trail — on the simulated region and over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.api.governance_routes import RepositorySource
from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from healthbrain.core.settings import Settings
from healthbrain.fhir.reading import run_search
from healthbrain.security import totp
from healthbrain.security.approvals import DataUseApprovals
from healthbrain.security.audit_events import AuditQuery, search_audit
from healthbrain.security.deid import Pseudonymizer
from healthbrain.security.deid_export import DeidExporter, derive_key

from regionkit import Region

P = PurposeOfUse
SYSTEM = system_context()
PROVINCE = "adm-330000"
SPEC = {
    "resource_types": ["Encounter", "Condition", "Observation"],
    "quasi_identifiers": ["age", "gender"],
    "k": 2,
    "max_suppression": 0.2,
}


def consent(pid: str, kind: str, purpose: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "provision": {
            "type": kind,
            "purpose": [
                {"system": "https://healthbrain.dev/fhir/CodeSystem/purpose-of-use", "code": purpose}
            ],
        },
    }


class Flow:
    """The people of the workflow, in the simulated region."""

    def __init__(self, region: Region, tmp: Path) -> None:
        self.region = region
        sec = region.security
        self.approvals = DataUseApprovals(region.engine, sec.orgs, sec.audit)
        self.exporter = DeidExporter(region.engine, sec.keys, sec.orgs, self.approvals, sec.audit, tmp)
        self.source = RepositorySource(region.repo)
        a, b = region.hospital_a, region.hospital_b
        county_a = sec.orgs.ancestors(a)[0]
        self.scientist = region.ctx({"data-scientist"}, a, P.RESEARCH, principal="sci-1")
        self.admin_a = region.ctx({"institution-admin"}, a, P.OPERATIONS, principal="admin-a")
        self.admin_b = region.ctx({"institution-admin"}, b, P.OPERATIONS, principal="admin-b")
        self.officer = region.ctx({"regional-officer"}, county_a, P.OPERATIONS, principal="officer-1")
        self.supervisor = region.ctx({"provincial-supervisor"}, PROVINCE, P.OPERATIONS, principal="prov-1")
        self.auditor = region.ctx({"security-auditor"}, PROVINCE, P.OPERATIONS, principal="auditor-1")

    def approve_all(self, rid: str) -> None:
        for who in (self.admin_a, self.officer, self.supervisor):
            self.approvals.decide(who, rid, True, "符合伦理审查要求")


@pytest.fixture
def flow(region: Region, tmp_path: Path) -> Flow:
    return Flow(region, tmp_path)


def all_patients(region: Region) -> list[dict[str, Any]]:
    return run_search(region.repo, SYSTEM, "Patient", [("_count", "1000"), ("_sort", "_id")]).matches


def grant(region: Region, pids: list[str], kind: str, purpose: str) -> None:
    for pid in pids:
        region.repo.create(SYSTEM, consent(pid, kind, purpose))


def ndjson(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def test_three_approvals_then_an_export_of_consented_patients_only(flow: Flow, region: Region) -> None:
    patients = all_patients(region)
    research, training = [p["id"] for p in patients[:30]], [p["id"] for p in patients[30:36]]
    grant(region, research, "permit", "HRESCH")
    grant(region, training, "permit", "MLTRAINING")
    grant(region, research[:1], "deny", "HRESCH")  # the first one changed their mind
    request = flow.approvals.submit(flow.scientist, P.RESEARCH, "高血压队列研究：血压控制与并发症", SPEC)
    assert request.status == "pending" and request.level == 0
    with pytest.raises(Conflict):
        flow.exporter.run(flow.scientist, request.id, flow.source)  # nothing approved yet
    with pytest.raises(Forbidden):
        flow.approvals.decide(flow.officer, request.id, True, "ok")  # the institution decides first
    with pytest.raises(Forbidden):
        flow.approvals.decide(flow.admin_b, request.id, True, "ok")  # another institution's admin
    flow.approve_all(request.id)
    approved = flow.approvals.get(flow.scientist, request.id)
    assert approved.status == "approved" and [d.approver for d in approved.decisions] == [
        "admin-a",
        "officer-1",
        "prov-1",
    ]
    colleague = region.ctx({"data-scientist"}, region.hospital_a, P.RESEARCH, principal="sci-2")
    with pytest.raises(NotFound):
        flow.exporter.run(colleague, request.id, flow.source)  # only the requester (and overseers) see it
    with pytest.raises(Forbidden):
        flow.exporter.run(flow.admin_a, request.id, flow.source)  # an approver sees it but does not run it
    run = flow.exporter.run(flow.scientist, request.id, flow.source)
    assert run.status == "completed" and run.report is not None
    folder = flow.exporter.root / request.id / run.id
    released = ndjson(folder / "Patient.ndjson")
    pseudo = Pseudonymizer(derive_key(region.security.keys, request.id))
    allowed = {pseudo.pseudonym("Patient", pid) for pid in research[1:]}
    assert released and {p["id"] for p in released} <= allowed
    assert len(released) == run.released == run.report["inclusion"]["released"]
    assert run.report["inclusion"]["consented"] == len(research) - 1
    assert len(released) + run.report["inclusion"]["suppressed"] == run.report["inclusion"]["in_scope"]
    ids = {f"Patient/{p['id']}" for p in released}
    observations = ndjson(folder / "Observation.ndjson")
    assert observations and all(o["subject"]["reference"] in ids for o in observations)
    assert run.report["k_anonymity"]["smallest_class"] >= 2
    assert flow.approvals.get(flow.scientist, request.id).status == "exported"


def test_every_step_is_audited_and_the_export_reads_under_its_own_principal(
    flow: Flow, region: Region
) -> None:
    request = flow.approvals.submit(flow.scientist, P.RESEARCH, "糖尿病足溃疡的危险因素分析", SPEC)
    with pytest.raises(Forbidden):
        flow.approvals.decide(flow.supervisor, request.id, True, "ok")
    flow.approve_all(request.id)
    flow.exporter.run(flow.scientist, request.id, flow.source)
    region.security.audit.flush()
    rows = [r for r in search_audit(region.engine, AuditQuery(count=1000)) if r["resource_id"] == request.id]
    steps = [(r["action"], r["outcome"], r["principal"]) for r in reversed(rows)]
    assert steps == [
        ("data-use.submit", "success", "sci-1"),
        ("data-use.approve", "failure", "prov-1"),
        ("data-use.approve", "success", "admin-a"),
        ("data-use.approve", "success", "officer-1"),
        ("data-use.approve", "success", "prov-1"),
        ("data-use.export", "success", "sci-1"),
    ]
    reads = search_audit(region.engine, AuditQuery(principal=f"deid-export:{request.id}", count=1000))
    assert (
        reads and {r["purpose"] for r in reads} == {"HRESCH"} and {r["action"] for r in reads} == {"search"}
    )


def test_rejection_ends_a_request_and_no_one_approves_twice_or_their_own(flow: Flow, region: Region) -> None:
    request = flow.approvals.submit(flow.scientist, P.MODEL_TRAINING, "训练门诊分诊模型（脱敏数据）", SPEC)
    both = region.ctx(
        {"institution-admin", "regional-officer"}, region.hospital_a, P.OPERATIONS, principal="admin-a"
    )
    flow.approvals.decide(both, request.id, True, "同意")
    with pytest.raises(Forbidden):  # the same person cannot also decide the next level
        flow.approvals.decide(
            region.ctx(
                {"regional-officer"}, flow.officer.principal.organization, P.OPERATIONS, principal="admin-a"
            ),
            request.id,
            True,
            "同意",
        )
    rejected = flow.approvals.decide(flow.officer, request.id, False, "数据范围过大")
    assert rejected.status == "rejected" and rejected.level == 1
    with pytest.raises(Conflict):
        flow.approvals.decide(flow.supervisor, request.id, True, "同意")
    with pytest.raises(Conflict):
        flow.exporter.run(flow.scientist, request.id, flow.source)
    selfish = region.ctx(
        {"data-scientist", "institution-admin"}, region.hospital_a, P.RESEARCH, principal="sci-9"
    )
    mine = flow.approvals.submit(selfish, P.RESEARCH, "自己提交自己审批的请求", SPEC)
    with pytest.raises(Forbidden):
        flow.approvals.decide(selfish, mine.id, True, "同意")


def test_requests_are_seen_by_their_requester_approvers_above_and_auditors(
    flow: Flow, region: Region
) -> None:
    request = flow.approvals.submit(flow.scientist, P.RESEARCH, "慢阻肺急性加重的季节性研究", SPEC)
    for ctx in (flow.scientist, flow.admin_a, flow.officer, flow.supervisor, flow.auditor):
        assert flow.approvals.get(ctx, request.id).id == request.id
    for ctx in (
        flow.admin_b,
        region.ctx({"data-scientist"}, region.hospital_b, P.RESEARCH, principal="sci-b"),
    ):
        with pytest.raises(NotFound):
            flow.approvals.get(ctx, request.id)
        assert request.id not in {r.id for r in flow.approvals.list_requests(ctx)}
    assert request.id in {r.id for r in flow.approvals.list_requests(flow.supervisor, "pending")}


def test_bad_requests_are_refused_with_reasons(flow: Flow, region: Region) -> None:
    with pytest.raises(InvalidInput) as err:
        flow.approvals.submit(flow.scientist, P.TREATMENT, "short", SPEC)
    assert {i.expression for i in err.value.issues} == {"purpose", "description"}
    with pytest.raises(InvalidInput):
        flow.approvals.submit(
            flow.scientist, P.CROSS_BORDER, "跨境多中心临床试验数据传输", SPEC
        )  # no destination
    with pytest.raises(InvalidInput):
        flow.approvals.submit(
            flow.scientist, P.RESEARCH, "范围超出本省的研究请求", {**SPEC, "scope": ["adm-110000"]}
        )
    clinician_b = region.ctx({"nurse"}, region.hospital_b, P.RESEARCH, principal="nurse-b")
    with pytest.raises(Forbidden):
        flow.approvals.submit(clinician_b, P.RESEARCH, "护士无权提交数据使用申请", SPEC)


# ---- over HTTP -----------------------------------------------------------------------------------
API = "/api/v1/governance"
PASSWORD = "Correct-Horse-7"


def org(oid: str, level: str | None, parent: str | None) -> dict[str, Any]:
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
    form = {"grant_type": "password", "username": username, "password": PASSWORD}
    if secret:
        form["totp"] = totp(secret)
    r = client.post("/oauth/token", data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_workflow_over_http(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db_url, export_dir=str(tmp_path / "export"))
    with TestClient(create_app(settings)) as client:
        dev = {"Authorization": "Bearer dev-token"}
        for o in (
            org("prov", "province", None),
            org("city", "city", "prov"),
            org("county", "county", "city"),
            org("hosp", None, "county"),
        ):
            assert client.put(f"/fhir/R4/Organization/{o['id']}", json=o, headers=dev).status_code in (
                200,
                201,
            )
        for i in range(6):
            patient = {
                "resourceType": "Patient",
                "gender": "female",
                "birthDate": "1970-05-0" + str(i + 1),
                "name": [{"text": f"王芳{i}"}],
                "managingOrganization": {"reference": "Organization/hosp"},
            }
            pid = client.post("/fhir/R4/Patient", json=patient, headers=dev).json()["id"]
            assert (
                client.post(
                    "/api/v1/security/consents", json={"patient": pid, "purpose": "HRESCH"}, headers=dev
                ).status_code
                == 201
            )
        sci = sign_in(client, "sci", ["data-scientist"], "hosp")
        body = {"purpose": "HRESCH", "description": "女性骨质疏松的流行病学研究", "spec": {**SPEC, "k": 3}}
        r = client.post(f"{API}/requests", json=body, headers=sci)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (
            r.json()["status_text"] == "待机构审批" and r.json()["next_approver_role"] == "institution-admin"
        )
        assert client.post(f"{API}/requests", json={**body, "spec": {"k": 0}}, headers=sci).status_code == 400
        assert client.post(f"{API}/requests/{rid}/$export", headers=sci).status_code == 409
        for user, roles, where in (
            ("adm", ["institution-admin"], "hosp"),
            ("off", ["regional-officer"], "county"),
            ("sup", ["provincial-supervisor"], "prov"),
        ):
            r = client.post(
                f"{API}/requests/{rid}/decisions",
                json={"decision": "approve", "reason": "同意"},
                headers=sign_in(client, user, roles, where),
            )
            assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"
        r = client.post(f"{API}/requests/{rid}/$export", headers=sci)
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["released_patients"] == 6 and run["files"]["Patient"] == 6
        report = client.get(f"{API}/requests/{rid}/report", headers=sci).json()
        assert report["k_anonymity"]["k"] == 3 and report["k_anonymity"]["smallest_class"] >= 3
        f = client.get(f"{API}/requests/{rid}/exports/{run['id']}/Patient.ndjson", headers=sci)
        assert f.status_code == 200 and "王芳" not in f.text and len(f.text.splitlines()) == 6
        other = sign_in(client, "sci2", ["data-scientist"], "hosp")
        assert client.get(f"{API}/requests/{rid}", headers=other).status_code == 404
        assert (
            client.get(f"{API}/requests/{rid}/exports/{run['id']}/Patient.ndjson", headers=other).status_code
            == 404
        )
