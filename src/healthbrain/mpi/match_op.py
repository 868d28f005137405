"""FHIR `Patient/$match` (R4): score candidates for a Patient and return them graded in a searchset Bundle.

See: https://hl7.org/fhir/R4/patient-operation-match.html — input Parameters `resource` (Patient),
`onlyCertainMatches`, `count`; each entry carries `search.score` and the `match-grade` extension.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.mpi.index import Candidate, PatientIndex
from healthbrain.mpi.records import patient_record

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
DEFAULT_COUNT = 10
MAX_COUNT = 100


@dataclass(frozen=True, slots=True)
class MatchRequest:
    patient: dict[str, Any]
    only_certain: bool = False
    count: int = DEFAULT_COUNT


def parse_match_request(body: Any) -> MatchRequest:
    """Read $match input: a Parameters resource (or, leniently, a bare Patient).

    Raises:
        InvalidInput: listing every problem, each located by a FHIRPath expression.
    """
    if isinstance(body, Mapping) and body.get("resourceType") == "Patient":
        return MatchRequest(dict(body))
    if not isinstance(body, Mapping) or body.get("resourceType") != "Parameters":
        raise InvalidInput("$match takes a Parameters resource", code="mpi.match_not_parameters")
    patient, only, count, problems = None, False, DEFAULT_COUNT, []
    for k, p in enumerate(body.get("parameter", []) or []):
        name = p.get("name") if isinstance(p, Mapping) else None
        where = f"Parameters.parameter[{k}]"
        if name == "resource":
            patient = p.get("resource")
            if not isinstance(patient, Mapping) or patient.get("resourceType") != "Patient":
                problems.append(Issue("error", "invalid", "resource must be a Patient", f"{where}.resource"))
        elif name == "onlyCertainMatches":
            only = p.get("valueBoolean")
            if not isinstance(only, bool):
                problems.append(Issue("error", "invalid", "onlyCertainMatches must be a boolean", where))
        elif name == "count":
            count = p.get("valueInteger")
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
                problems.append(Issue("error", "invalid", f"count must be an integer 1-{MAX_COUNT}", where))
    if patient is None and not problems:
        problems.append(
            Issue("error", "required", "the resource parameter is required", "Parameters.parameter")
        )
    if problems:
        raise InvalidInput("invalid $match parameters", issues=problems, code="mpi.bad_match_parameters")
    return MatchRequest(dict(patient or {}), bool(only), int(count))


def match(index: PatientIndex, request: MatchRequest) -> list[Candidate]:
    """Candidates for the input Patient, best first, as graded by the current model (no writes)."""
    record = patient_record({"id": "$match", **request.patient, "resourceType": "Patient"})
    with index.engine.connect() as conn:
        candidates, _ = index.candidates_of(conn, record)
    wanted = [c for c in candidates if c.grade != "certainly-not"]
    if request.only_certain:
        wanted = [c for c in wanted if c.grade == "certain"]
    return wanted[: request.count]


def match_bundle(
    candidates: list[Candidate], read: Callable[[str], dict[str, Any] | None], base_url: str
) -> dict[str, Any]:
    """The searchset Bundle; `read` fetches each Patient through the repository (policy, audit)."""
    entries = []
    for c in candidates:
        resource = read(c.patient_ref.split("/", 1)[1])
        if resource is None:
            continue
        entries.append(
            {
                "fullUrl": f"{base_url}/{c.patient_ref}",
                "resource": resource,
                "search": {
                    "extension": [{"url": MATCH_GRADE, "valueCode": c.grade}],
                    "mode": "match",
                    "score": round(c.probability, 6),
                },
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
