"""The access policy's rules, each shown through the repository on a simulated region."""

from __future__ import annotations

import time
from typing import Any

import pytest

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.errors import Forbidden, InvalidInput, NotFound
from healthbrain.fhir.reading import run_search

from regionkit import Region, encounter

SYSTEM = system_context()
P = PurposeOfUse


def first_patient(region: Region, org: str, skip: int = 0) -> dict[str, Any]:
    found = run_search(
        region.repo, SYSTEM, "Patient", [("organization", f"Organization/{org}"), ("_count", "50")]
    )
    return found.matches[skip]


def visible(region: Region, ctx: Any, pid: str) -> bool:
    try:
        region.repo.read(ctx, "Patient", pid)
        return True
    except NotFound:
        return False


def consent(pid: str, kind: str, purpose: str, org: str | None, status: str = "active") -> dict[str, Any]:
    provision: dict[str, Any] = {
        "type": kind,
        "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}],
    }
    if org:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {"reference": f"Organization/{org}"},
            }
        ]
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": provision,
    }


def test_own_institution_is_visible_and_others_are_not(region: Region) -> None:
    a = region.ctx({"clinician"}, region.hospital_a)
    assert visible(region, a, first_patient(region, region.hospital_a)["id"])
    assert not visible(region, a, first_patient(region, region.hospital_b)["id"])


def test_a_recent_encounter_opens_the_record_an_old_one_does_not(region: Region) -> None:
    a = region.ctx({"clinician"}, region.hospital_a)
    old, recent = first_patient(region, region.hospital_b, 1), first_patient(region, region.hospital_b, 2)
    window = region.security.settings.care_window_days
    region.repo.create(SYSTEM, encounter(old["id"], region.hospital_a, window + 30))
    region.repo.create(SYSTEM, encounter(recent["id"], region.hospital_a, 3))
    assert not visible(region, a, old["id"])
    assert visible(region, a, recent["id"])
    # and with the patient, their records from B
    obs = run_search(region.repo, a, "Observation", [("subject", f"Patient/{recent['id']}")])
    assert obs.matches and all(o["subject"]["reference"] == f"Patient/{recent['id']}" for o in obs.matches)


def test_consent_permits_and_revocation_or_refusal_closes(region: Region) -> None:
    a = region.ctx({"clinician"}, region.hospital_a)
    pid = first_patient(region, region.hospital_b, 3)["id"]
    assert not visible(region, a, pid)
    granted = region.repo.create(SYSTEM, consent(pid, "permit", "TREAT", region.hospital_a))
    assert visible(region, a, pid)
    # consent is per purpose: it does not open the record for research
    researcher = region.ctx({"clinician"}, region.hospital_a, P.RESEARCH)
    with pytest.raises(Forbidden):
        region.repo.read(researcher, "Patient", pid)
    revoked = {**(granted.version.resource or {}), "status": "inactive"}
    region.repo.update(SYSTEM, "Consent", granted.version.id, revoked)
    assert not visible(region, a, pid)
    # an explicit refusal wins over a care relationship at another institution
    other = first_patient(region, region.hospital_b, 4)["id"]
    region.repo.create(SYSTEM, encounter(other, region.hospital_a, 2))
    assert visible(region, a, other)
    region.repo.create(SYSTEM, consent(other, "deny", "TREAT", None))
    assert not visible(region, a, other)
    # but never over the institution's own patients
    own = first_patient(region, region.hospital_a, 1)["id"]
    region.repo.create(SYSTEM, consent(own, "deny", "TREAT", None))
    assert visible(region, a, own)


def test_break_glass_needs_reason_emergency_and_expires(region: Region) -> None:
    pid = first_patient(region, region.hospital_b, 5)["id"]
    ledger = region.security.break_glass
    treat = region.ctx({"clinician"}, region.hospital_a, principal="dr-bg")
    emergency = region.ctx({"clinician"}, region.hospital_a, P.EMERGENCY, principal="dr-bg", break_glass="ER")
    with pytest.raises(Forbidden):
        ledger.grant(treat, pid, "unconscious patient, no relatives reachable")
    with pytest.raises(InvalidInput):
        ledger.grant(emergency, pid, "urgent")
    pharmacist = region.ctx({"pharmacist"}, region.hospital_a, P.EMERGENCY, break_glass="ER")
    with pytest.raises(Forbidden):
        ledger.grant(pharmacist, pid, "unconscious patient, no relatives reachable")
    assert not visible(region, emergency, pid)
    grant = ledger.grant(emergency, pid, "unconscious patient, no relatives reachable", minutes=30)
    assert grant.expires_at - time.time() <= 30 * 60 + 1
    assert visible(region, emergency, pid)
    assert not visible(region, treat, pid)  # without the break-glass context nothing changed
    with region.engine.connect() as conn:
        from sqlalchemy import select

        from healthbrain.security import tables as t

        alerts = conn.execute(
            select(t.anomaly.c.rule, t.anomaly.c.severity).where(t.anomaly.c.principal == "dr-bg")
        ).all()
    assert [(r.rule, r.severity) for r in alerts] == [("break-glass", "high")]


def test_sensitive_diagnoses_are_labelled_and_hidden_from_uncleared_roles(region: Region) -> None:
    pid = first_patient(region, region.hospital_a, 2)["id"]
    hiv = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "B20.0"}]},
    }
    stored = region.repo.create(SYSTEM, hiv).version
    labels = {s["code"] for s in (stored.resource or {})["meta"]["security"]}
    assert {"HIV", "R"} <= labels
    clinician = region.ctx({"clinician"}, region.hospital_a)
    nurse = region.ctx({"nurse"}, region.hospital_a)
    assert region.repo.read(clinician, "Condition", stored.id).resource is not None
    with pytest.raises(NotFound):
        region.repo.read(nurse, "Condition", stored.id)
    ids = {
        c["id"] for c in run_search(region.repo, nurse, "Condition", [("subject", f"Patient/{pid}")]).matches
    }
    assert stored.id not in ids
    assert run_search(region.repo, nurse, "Condition", [("code", "B20.0"), ("_summary", "count")]).total == 0


def test_regional_roles_count_but_do_not_read(region: Region) -> None:
    county = region.security.orgs.node(region.hospital_a)
    assert county is not None and county.parent
    officer = region.ctx({"regional-officer"}, county.parent, P.OPERATIONS)
    with pytest.raises(Forbidden):
        run_search(region.repo, officer, "Patient", [])
    counted = run_search(region.repo, officer, "Patient", [("_summary", "count")]).total
    in_region = set(region.security.orgs.subtree(county.parent))
    everyone = run_search(region.repo, SYSTEM, "Patient", [("_count", "1000")]).matches
    expected = sum(1 for p in everyone if p["managingOrganization"]["reference"].split("/")[1] in in_region)
    assert counted == expected and 0 < expected < len(everyone)
    cdc = region.ctx({"cdc-officer"}, county.parent, P.PUBLIC_HEALTH)
    seen = run_search(region.repo, cdc, "Patient", [("_count", "1000")]).matches
    assert {p["managingOrganization"]["reference"].split("/")[1] for p in seen} <= in_region
    assert len(seen) == expected
    with pytest.raises(Forbidden):
        run_search(region.repo, region.ctx({"cdc-officer"}, county.parent, P.TREATMENT), "Patient", [])


def test_writes_follow_role_and_relationship(region: Region) -> None:
    a = region.ctx({"clinician"}, region.hospital_a)
    mine = first_patient(region, region.hospital_a)["id"]
    theirs = first_patient(region, region.hospital_b, 6)["id"]
    note = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": 80, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    assert region.repo.create(a, {**note, "subject": {"reference": f"Patient/{mine}"}}).status == "created"
    with pytest.raises(Forbidden):
        region.repo.create(a, {**note, "subject": {"reference": f"Patient/{theirs}"}})
    nurse = region.ctx({"nurse"}, region.hospital_a)
    diagnosis = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{mine}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
    }
    with pytest.raises(Forbidden):
        region.repo.create(nurse, diagnosis)
    newborn = {"resourceType": "Patient", "name": [{"family": "王", "given": ["小"]}]}
    here = {**newborn, "managingOrganization": {"reference": f"Organization/{region.hospital_a}"}}
    there = {**newborn, "managingOrganization": {"reference": f"Organization/{region.hospital_b}"}}
    assert region.repo.create(a, here).status == "created"
    with pytest.raises(Forbidden):
        region.repo.create(a, there)
    admin = region.ctx({"platform-admin"}, region.hospital_a, P.OPERATIONS)
    with pytest.raises(Forbidden):
        region.repo.read(admin, "Patient", mine)


def test_scopes_narrow_what_a_token_may_do(region: Region) -> None:
    mine = first_patient(region, region.hospital_a)["id"]
    observations_only = region.ctx(
        {"clinician"}, region.hospital_a, scopes=frozenset({"user/Observation.read"})
    )
    run_search(region.repo, observations_only, "Observation", [("subject", f"Patient/{mine}")])
    with pytest.raises(Forbidden):
        run_search(region.repo, observations_only, "Patient", [])
    with pytest.raises(Forbidden):
        region.repo.create(
            observations_only,
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": f"Patient/{mine}"},
            },
        )
