"""A resident with records at a county hospital and a township clinic of the simulated region, and the
results and orders the recognition tests write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from healthbrain.simulation import Region

NOW = datetime.now(UTC)


def organisations(region: Region) -> tuple[list[dict[str, Any]], str, str]:
    """The region's Organizations, a general hospital (A1) and a township clinic (C2)."""
    orgs = [r for r in region.shared if r["resourceType"] == "Organization"]

    def of_type(code: str) -> str:
        return next(o["id"] for o in orgs if any(c.get("code") == code for t in o.get("type", ())
                                                 for c in t.get("coding", ())))  # fmt: skip

    return orgs, of_type("A1"), of_type("C2")


def patient(pid: str, org: str, link: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1961-03-04",
                           "managingOrganization": {"reference": f"Organization/{org}"}}  # fmt: skip
    if link:
        res["link"] = [{"other": {"reference": f"Patient/{link}"}, "type": "seealso"}]
    return res


def report(rid: str, pid: str, org: str, loinc: str, days_ago: float) -> dict[str, Any]:
    taken = NOW - timedelta(days=days_ago)
    return {
        "resourceType": "DiagnosticReport", "id": rid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": taken.isoformat(),
        "issued": (taken + timedelta(hours=2)).isoformat(), "performer": [{"reference": f"Organization/{org}"}],
    }  # fmt: skip


def order(oid: str, pid: str, org: str, loinc: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest", "id": oid, "status": "active", "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"}, "authoredOn": NOW.isoformat(),
        "requester": {"reference": f"Organization/{org}"},
    }  # fmt: skip
