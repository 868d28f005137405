"""The index follows the store, arriving local codes are mapped or queued, and an operator's resolution
is applied to stored data and to what arrives later — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from healthbrain.core.context import system_context
from healthbrain.core.errors import Conflict, NotFound, Unprocessable
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.terminology import (
    ICD10,
    LOINC,
    LOOKUP_PARAMS,
    Resolution,
    TerminologyService,
    dismiss,
    from_query,
    local_system,
    resolve,
)

LAB = local_system("kecheng-rmyy", "lab")
CTX = system_context()


def _service(repo: FhirRepository, engine: Engine) -> tuple[TerminologyService, EventDispatcher]:
    service = TerminologyService(repo)
    service.load()
    dispatcher = EventDispatcher(engine)
    service.register(dispatcher)
    dispatcher.drain()
    return service, dispatcher


def _observation(code: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": LAB, "code": code, "display": name}], "text": name},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 452, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"},
    }  # fmt: skip


def _codes(repo: FhirRepository, rid: str) -> tuple[int, set[tuple[str, str]]]:
    v = repo.read(CTX, "Observation", rid)
    assert v.resource is not None
    return v.version_id, {(c["system"], c["code"]) for c in v.resource["code"]["coding"]}


def test_the_index_follows_stored_terminology(loaded_repo: FhirRepository, engine: Engine) -> None:
    service, dispatcher = _service(loaded_repo, engine)
    loinc = loaded_repo.read(CTX, "CodeSystem", "loinc-region").resource
    assert loinc is not None
    with pytest.raises(NotFound):
        service.lookup(CTX, from_query("$lookup", [("system", LOINC), ("code", "14933-6")], LOOKUP_PARAMS))
    loinc["concept"].append({"code": "14933-6", "display": "尿酸"})
    loaded_repo.update(CTX, "CodeSystem", "loinc-region", loinc)
    dispatcher.drain()
    found = service.lookup(
        CTX, from_query("$lookup", [("system", LOINC), ("code", "14933-6")], LOOKUP_PARAMS)
    )
    assert {"name": "display", "valueString": "尿酸"} in found["parameter"]
    loaded_repo.delete(CTX, "CodeSystem", "icd-10")
    dispatcher.drain()
    with pytest.raises(NotFound):
        service.lookup(CTX, from_query("$lookup", [("system", ICD10), ("code", "I10")], LOOKUP_PARAMS))


def test_arriving_local_codes_are_mapped_or_queued(loaded_repo: FhirRepository, engine: Engine) -> None:
    service, dispatcher = _service(loaded_repo, engine)
    glucose = loaded_repo.create(CTX, _observation("GLU", "葡萄糖")).version.id
    urate = [loaded_repo.create(CTX, _observation("UA", "尿酸")).version.id for _ in range(2)]
    dispatcher.drain()
    version, codes = _codes(loaded_repo, glucose)
    assert version == 2 and (LOINC, "14749-6") in codes and (LAB, "GLU") in codes  # the local code is kept
    assert _codes(loaded_repo, urate[0]) == (1, {(LAB, "UA")})
    items, total = service.reviews.page(status="open")
    assert total == 1
    item = items[0]
    assert (item.system, item.code, item.display, item.institution) == (LAB, "UA", "尿酸", "kecheng-rmyy")
    assert item.occurrences == 2 and item.element == "Observation.code"
    dispatcher.replay("terminology.local-codes", 1)  # redelivery counts nothing twice
    dispatcher.drain()
    assert service.reviews.get(item.id).occurrences == 2  # type: ignore[union-attr]


def test_a_resolution_rewrites_past_data_and_maps_future_data(
    loaded_repo: FhirRepository, engine: Engine
) -> None:
    service, dispatcher = _service(loaded_repo, engine)
    past = [loaded_repo.create(CTX, _observation("UA", "尿酸")).version.id for _ in range(3)]
    dispatcher.drain()
    item = service.reviews.page()[0][0]
    outcome = resolve(service, CTX, item.id, Resolution(LOINC, "14933-6", "尿酸"))
    assert outcome.rewritten == 3 and outcome.item.status == "resolved" and outcome.item.applied == 3
    for rid in past:
        version, codes = _codes(loaded_repo, rid)
        assert version == 2 and codes == {(LAB, "UA"), (LOINC, "14933-6")}
    cm = loaded_repo.read(CTX, "ConceptMap", "local-kecheng-rmyy-lab").resource
    assert cm is not None
    elements = {e["code"]: e["target"][0] for g in cm["group"] for e in g["element"]}
    assert elements["UA"] == {"code": "14933-6", "equivalence": "equivalent", "display": "尿酸"}
    assert elements["GLU"]["code"] == "14749-6"  # the institution's other mappings are kept
    future = loaded_repo.create(CTX, _observation("UA", "血尿酸")).version.id
    dispatcher.drain()
    assert (LOINC, "14933-6") in _codes(loaded_repo, future)[1]
    assert service.reviews.page(status="open")[1] == 0
    with pytest.raises(Conflict):
        resolve(service, CTX, item.id, Resolution(LOINC, "14933-6"))


def test_a_code_of_a_new_institution_gets_its_own_map(loaded_repo: FhirRepository, engine: Engine) -> None:
    service, dispatcher = _service(loaded_repo, engine)
    system = local_system("jiangshan-rmyy", "dx")
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": system, "code": "GXY01", "display": "高血压病"}]}}  # fmt: skip
    rid = loaded_repo.create(CTX, condition).version.id
    dispatcher.drain()
    item = service.reviews.page(institution="jiangshan-rmyy")[0][0]
    with pytest.raises(Unprocessable) as err:  # ICD-10 is complete: a code it lacks is refused
        resolve(service, CTX, item.id, Resolution(ICD10, "I10.9"))
    assert err.value.code == "terminology.unknown_target"
    assert service.reviews.get(item.id).status == "open"  # type: ignore[union-attr]
    outcome = resolve(service, CTX, item.id, Resolution(ICD10, "i10"))
    assert outcome.concept_map == "ConceptMap/local-jiangshan-rmyy-dx" and outcome.rewritten == 1
    stored = loaded_repo.read(CTX, "Condition", rid).resource
    assert stored is not None
    assert {"system": ICD10, "code": "I10", "display": "Essential (primary) hypertension"} in stored["code"][
        "coding"
    ]


def test_dismissed_codes_stay_dismissed(loaded_repo: FhirRepository, engine: Engine) -> None:
    service, dispatcher = _service(loaded_repo, engine)
    loaded_repo.create(CTX, _observation("TEST1", "测试项目"))
    dispatcher.drain()
    item = service.reviews.page()[0][0]
    assert dismiss(service, CTX, item.id).status == "dismissed"
    loaded_repo.create(CTX, _observation("TEST1", "测试项目"))
    dispatcher.drain()
    assert service.reviews.page(status="open")[1] == 0
    with pytest.raises(Conflict):
        dismiss(service, CTX, item.id)
    with pytest.raises(NotFound):
        dismiss(service, CTX, 999_999)
