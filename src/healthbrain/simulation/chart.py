"""FHIR resources of clinical activity: encounters, observations, reports, conditions, prescriptions.

Resources are plain dicts built from a few shared, never-mutated fragments: generating millions
of them must stay cheap, and validation belongs to the tests, not to the generator.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.codes import Diagnosis, Drug, Quantity
from healthbrain.simulation.region import Institution

_CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
_CLASSES = {k: {"system": codes.V3_ACT_CODE, "code": k, "display": v} for k, v in _CLASS_DISPLAY.items()}
_ATTENDER = [{"coding": [{"system": codes.V3_PARTICIPATION, "code": "ATND", "display": "attender"}]}]
_VITALS = [{"coding": [{"system": codes.OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}]
_LAB = [{"coding": [{"system": codes.OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]
_LAB_SECTION = [{"coding": [{"system": codes.V2_0074, "code": "LAB", "display": "Laboratory"}]}]
_INTERPRETATION = {
    code: [{"coding": [{"system": codes.V3_INTERPRETATION, "code": code, "display": display}]}]
    for code, display in (("H", "High"), ("L", "Low"), ("N", "Normal"))
}
_CLINICAL = {s: {"coding": [{"system": codes.COND_CLINICAL, "code": s}]} for s in ("active", "resolved")}
_CONFIRMED = {"coding": [{"system": codes.COND_VERIFICATION, "code": "confirmed"}]}
_ENCOUNTER_DX = {"coding": [{"system": codes.COND_CATEGORY, "code": "encounter-diagnosis"}]}
_PROBLEM = {"coding": [{"system": codes.COND_CATEGORY, "code": "problem-list-item"}]}
_NOTIFIABLE: dict[str, Any] = {
    "coding": [{"system": codes.NOTIFIABLE_SYSTEM, "code": codes.NOTIFIABLE_CODE}],
    "text": "法定传染病",
}
_DISCHARGE_HOME = {
    "dischargeDisposition": {"coding": [{"system": codes.DISCHARGE_DISPOSITION, "code": "home"}]}
}
_UNIT_DISPLAY = {"[iU]": "IU", "ug": "μg", "Cel": "℃", "10*9/L": "×10^9/L"}


# Coded fragments are built once and shared between resources: generated resources are read-only.
@cache
def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


@cache
def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": codes.LOINC, "code": code}], "text": display}


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A Quantity; UCUM units carry system and code, Chinese packaging units only the unit text."""
    if unit in codes.NON_UCUM_UNITS:
        return {"value": value, "unit": unit}
    return {"value": value, "unit": _UNIT_DISPLAY.get(unit, unit), "system": codes.UCUM, "code": unit}


def _number(value: float, decimals: int) -> float:
    """Round like the instrument prints; integers stay integers so the JSON reads naturally."""
    return round(value) if decimals == 0 else round(value, decimals)


class Clock:
    """FHIR date/dateTime strings for days of the simulated year (China Standard Time, +08:00)."""

    def __init__(self, year: int) -> None:
        self.year = year
        self.first = date(year, 1, 1)
        self.length = (date(year + 1, 1, 1) - self.first).days
        # Inpatient stays may run into the next year; keep two extra months of days.
        self.dates = tuple((self.first + timedelta(days=d)).isoformat() for d in range(self.length + 62))

    def day_date(self, day: int) -> date:
        return self.first + timedelta(days=day)

    def at(self, day: int, minute: int) -> str:
        day += minute // 1440
        minute %= 1440
        return f"{self.dates[day]}T{minute // 60:02d}:{minute % 60:02d}:00+08:00"


class IdAllocator:
    """Sequential resource ids per institution and type, e.g. `kecheng-rmyy-e-0000042`."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def next(self, institution: str, kind: str) -> str:
        prefix = f"{institution}-{kind}"
        n = self._next.get(prefix, 0) + 1
        self._next[prefix] = n
        return f"{prefix}-{n:06d}" if kind == "p" else f"{prefix}-{n:07d}"


class Chart:
    """Writes the clinical resources of one Patient record at one institution into `out`."""

    __slots__ = ("clock", "ids", "inst", "org_ref", "out", "patient_ref")

    def __init__(
        self, ids: IdAllocator, clock: Clock, inst: Institution, patient_id: str, out: list[dict[str, Any]]
    ) -> None:
        self.ids = ids
        self.clock = clock
        self.inst = inst
        self.out = out
        self.patient_ref = {"reference": f"Patient/{patient_id}"}
        self.org_ref = {"reference": f"Organization/{inst.id}"}

    def encounter(
        self,
        setting: str,
        day: int,
        minute: int,
        department: str,
        doctor: str,
        reason: Diagnosis | None,
        stay_days: int = 0,
    ) -> dict[str, Any]:
        """An Encounter; AMB/EMER visits last minutes, IMP stays `stay_days` days."""
        inst = self.inst
        eid = self.ids.next(inst.id, "e")
        if setting == "IMP":
            location, end = inst.ward or inst.outpatient, self.clock.at(day + stay_days, 9 * 60 + 30)
        elif setting == "EMER":
            location, end = inst.emergency or inst.outpatient, self.clock.at(day, minute + 150)
        else:
            location, end = inst.outpatient, self.clock.at(day, minute + 20)
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": eid,
            "identifier": [{"system": codes.visit_system(inst.id), "value": eid.rsplit("-", 1)[1]}],
            "status": "finished",
            "class": _CLASSES[setting],
            "serviceType": _concept(codes.DEPARTMENT_SYSTEM, department, codes.DEPARTMENTS[department]),
            "subject": self.patient_ref,
            "participant": [{"type": _ATTENDER, "individual": {"reference": f"Practitioner/{doctor}"}}],
            "period": {"start": self.clock.at(day, minute), "end": end},
            "location": [{"location": {"reference": f"Location/{location}"}}],
            "serviceProvider": self.org_ref,
        }
        if reason is not None:
            enc["reasonCode"] = [_concept(codes.ICD10, reason.code, reason.display)]
        if setting == "IMP":
            enc["hospitalization"] = _DISCHARGE_HOME
        self.out.append(enc)
        return enc

    def _observation(
        self, enc: dict[str, Any], category: list[Any], code: dict[str, Any], when: str, performer: str
    ) -> dict[str, Any]:
        obs = {
            "resourceType": "Observation",
            "id": self.ids.next(self.inst.id, "o"),
            "status": "final",
            "category": category,
            "code": code,
            "subject": self.patient_ref,
            "encounter": {"reference": f"Encounter/{enc['id']}"},
            "effectiveDateTime": when,
            "performer": [{"reference": f"Practitioner/{performer}"}],
        }
        self.out.append(obs)
        return obs

    def blood_pressure(
        self, enc: dict[str, Any], when: str, nurse: str, systolic: float, diastolic: float
    ) -> None:
        """Blood pressure as one panel with systolic and diastolic components (FHIR vital-signs profile)."""
        obs = self._observation(enc, _VITALS, _loinc(*codes.BP_PANEL), when, nurse)
        obs["component"] = [
            {"code": _loinc(*codes.BP_SYSTOLIC), "valueQuantity": quantity(round(systolic), "mm[Hg]")},
            {"code": _loinc(*codes.BP_DIASTOLIC), "valueQuantity": quantity(round(diastolic), "mm[Hg]")},
        ]

    def vital(self, enc: dict[str, Any], when: str, nurse: str, q: Quantity, value: float) -> None:
        obs = self._observation(enc, _VITALS, _loinc(q.loinc, q.display), when, nurse)
        obs["valueQuantity"] = quantity(_number(value, q.decimals), q.unit)

    def lab(self, enc: dict[str, Any], when: str, issued: str, tech: str, q: Quantity, value: float) -> str:
        """A laboratory result with its reference range and H/L/N interpretation; returns the id."""
        obs = self._observation(enc, _LAB, _loinc(q.loinc, q.display), when, tech)
        shown = _number(value, q.decimals)
        obs["valueQuantity"] = quantity(shown, q.unit)
        flag = (
            "L"
            if q.low is not None and shown < q.low
            else "H"
            if q.high is not None and shown > q.high
            else "N"
        )
        obs["interpretation"] = _INTERPRETATION[flag]
        reference: dict[str, Any] = {}
        if q.low is not None:
            reference["low"] = quantity(q.low, q.unit)
        if q.high is not None:
            reference["high"] = quantity(q.high, q.unit)
        obs["referenceRange"] = [reference]
        obs["issued"] = issued
        return str(obs["id"])

    def report(
        self, enc: dict[str, Any], when: str, issued: str, panel: tuple[str, str], results: list[str]
    ) -> None:
        """A DiagnosticReport grouping results already written to the chart."""
        self.out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": self.ids.next(self.inst.id, "r"),
                "status": "final",
                "category": _LAB_SECTION,
                "code": _loinc(*panel),
                "subject": self.patient_ref,
                "encounter": {"reference": f"Encounter/{enc['id']}"},
                "effectiveDateTime": when,
                "issued": issued,
                "performer": [self.org_ref],
                "result": [{"reference": f"Observation/{rid}"} for rid in results],
            }
        )

    def condition(
        self,
        enc: dict[str, Any],
        dx: Diagnosis,
        doctor: str,
        recorded: str,
        *,
        chronic_onset: str | None = None,
        abated: str | None = None,
    ) -> str:
        """An encounter diagnosis (acute) or problem-list entry (chronic); links it from the encounter."""
        category: list[dict[str, Any]] = [_PROBLEM if chronic_onset else _ENCOUNTER_DX]
        if dx.notifiable:
            category.append(_NOTIFIABLE)
        cid = self.ids.next(self.inst.id, "c")
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "id": cid,
            "clinicalStatus": _CLINICAL["resolved" if abated else "active"],
            "verificationStatus": _CONFIRMED,
            "category": category,
            "code": _concept(codes.ICD10, dx.code, dx.display),
            "subject": self.patient_ref,
            "encounter": {"reference": f"Encounter/{enc['id']}"},
            "onsetDateTime": chronic_onset or recorded,
            "recordedDate": recorded,
            "recorder": {"reference": f"Practitioner/{doctor}"},
        }
        if abated:
            cond["abatementDateTime"] = abated
        self.out.append(cond)
        self.link_diagnosis(enc, cid)
        return cid

    @staticmethod
    def link_diagnosis(enc: dict[str, Any], condition_id: str) -> None:
        """List a Condition among the encounter's diagnoses (rank 1 = main diagnosis)."""
        diagnoses: list[dict[str, Any]] = enc.setdefault("diagnosis", [])
        diagnoses.append(
            {"condition": {"reference": f"Condition/{condition_id}"}, "rank": len(diagnoses) + 1}
        )

    def prescription(
        self, enc: dict[str, Any], drug: Drug, doctor: str, when: str, reason: str | None, active: bool
    ) -> None:
        """A MedicationRequest with a structured dosage (dose, times a day, route) and supply days."""
        coding = [{"system": codes.DRUG_SYSTEM, "code": drug.code, "display": drug.name}]
        if drug.atc:
            coding.append({"system": codes.ATC, "code": drug.atc})
        route = codes.ROUTES[drug.route]
        unit = _UNIT_DISPLAY.get(drug.unit, drug.unit)
        dose = int(drug.dose) if drug.dose == int(drug.dose) else drug.dose
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.ids.next(self.inst.id, "m"),
            "status": "active" if active else "completed",
            "intent": "order",
            "medicationCodeableConcept": {"coding": coding, "text": drug.name},
            "subject": self.patient_ref,
            "encounter": {"reference": f"Encounter/{enc['id']}"},
            "authoredOn": when,
            "requester": {"reference": f"Practitioner/{doctor}"},
            "dosageInstruction": [
                {
                    "text": f"{route}，一次{dose}{unit}，每日{drug.per_day}次",
                    "timing": {"repeat": {"frequency": drug.per_day, "period": 1, "periodUnit": "d"}},
                    "route": {"coding": [{"system": codes.SNOMED, "code": drug.route}], "text": route},
                    "doseAndRate": [{"doseQuantity": quantity(dose, drug.unit)}],
                }
            ],
            "dispenseRequest": {
                "expectedSupplyDuration": {
                    "value": drug.days,
                    "unit": "天",
                    "system": codes.UCUM,
                    "code": "d",
                }
            },
        }
        if reason is not None:
            request["reasonReference"] = [{"reference": f"Condition/{reason}"}]
        self.out.append(request)
