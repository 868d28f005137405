"""A small hospital for the HTTP tests: organisation, ward, doctors, a patient and an inpatient encounter."""

from __future__ import annotations

from typing import Any

ORG, WARD = "Organization/h1", "Location/h1-ward"
DOCTOR, DUTY, HEAD = "Practitioner/dr1", "Practitioner/dr2", "Practitioner/dr3"
PATIENT = "Patient/p1"


def hospital() -> list[dict[str, Any]]:
    return [
        {"resourceType": "Organization", "id": "h1", "name": "县人民医院"},
        {"resourceType": "Location", "id": "h1-ward", "name": "内科病区"},
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1958-09-30"},
        *({"resourceType": "Practitioner", "id": p.split("/")[1]} for p in (DOCTOR, DUTY, HEAD)),
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "serviceType": {
                "coding": [{"system": "https://healthbrain.dev/fhir/CodeSystem/department", "code": "03"}]
            },
            "subject": {"reference": PATIENT},
            "serviceProvider": {"reference": ORG},
            "participant": [{"individual": {"reference": DOCTOR}}],
            "location": [{"location": {"reference": WARD}}],
        },
    ]
