"""Notifiable-disease outbreaks injected into the synthetic region besides the spring influenza cluster:
HFMD in a kindergarten in early summer and again in autumn, norovirus in a school, a few measles
cases, scarlet fever in a primary school. Each has a known township, county, window and set of
cases (ground truth); some cases carry a pathogen test (LOINC, positive) and some norovirus cases
are diagnosed as non-infective gastroenteritis and found by their laboratory result only.

Drawn from streams of their own (seeded by the region seed and the person), so the rest of the
region is unchanged by them except for the extra resources and the ids that follow them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.care import Health, Visit
from healthbrain.simulation.chart import Chart, Clock, IdAllocator
from healthbrain.simulation.codes import Diagnosis
from healthbrain.simulation.encounters import VisitRecorder
from healthbrain.simulation.model import Outbreak, Person
from healthbrain.simulation.region import RegionLayout, Township

NOROVIRUS = Diagnosis("A08.1", "诺如病毒急性胃肠炎", notifiable=True)
MEASLES = Diagnosis("B05.9", "麻疹", notifiable=True)
SCARLET_FEVER = Diagnosis("A38", "猩红热", notifiable=True)
GASTROENTERITIS = Diagnosis("K52.9", "非感染性胃肠炎")  # what a busy clinic may code instead
ENTEROVIRUS_RNA = ("29591-5", "肠道病毒核酸")
NOROVIRUS_GII_RNA = ("54906-3", "诺如病毒GII型核酸")
MEASLES_IGM = ("21503-8", "麻疹病毒IgM抗体")
_LAB_CATEGORY = [{"coding": [{"system": codes.OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]
_POSITIVE = {"coding": [{"system": codes.SNOMED, "code": "10828004", "display": "Positive"}], "text": "阳性"}
_POS_FLAG = [{"coding": [{"system": codes.V3_INTERPRETATION, "code": "POS", "display": "Positive"}]}]


@dataclass(frozen=True, slots=True)
class OutbreakSpec:
    """How an outbreak unfolds: who falls ill, when, and what is recorded.

    Attributes:
        name: short label, e.g. `hfmd-kindergarten`.
        dx: the diagnosis of its cases.
        min_age, max_age: the ages of the setting (kindergarten 1-5, school 6-18 ...).
        attack: share of residents of those ages in the township who fall ill.
        spill: share of the township's other residents who fall ill (families, staff).
        start_days: (first, last) day of the year the outbreak may start on.
        duration: days over which its cases fall ill.
        peak: where onsets peak within the window (0 = at once, a point source; 0.5 = middle).
        max_cases: at most this many cases (a few measles cases), None for no cap.
        lab: (LOINC, display) of the pathogen test, or None.
        lab_share: share of cases tested (every test is positive).
        lab_only: share of cases coded with `GASTROENTERITIS` instead of `dx`, found only by the test.
        urban: the township is a 街道 (True), a 乡镇 (False), or either (None).
    """

    name: str
    dx: Diagnosis
    min_age: int
    max_age: int
    attack: float
    spill: float
    start_days: tuple[int, int]
    duration: int
    peak: float
    max_cases: int | None = None
    lab: tuple[str, str] | None = None
    lab_share: float = 0.0
    lab_only: float = 0.0
    urban: bool | None = None


SPECS: tuple[OutbreakSpec, ...] = (
    OutbreakSpec("measles-community", MEASLES, 0, 45, 0.03, 0.0, (40, 70), 28, 0.5, 6, MEASLES_IGM, 1.0),
    OutbreakSpec("hfmd-kindergarten", codes.HFMD, 1, 6, 0.6, 0.005, (135, 160), 21, 0.35, None,
                 ENTEROVIRUS_RNA, 0.6, urban=True),
    OutbreakSpec("hfmd-autumn", codes.HFMD, 1, 6, 0.5, 0.005, (250, 275), 18, 0.4, None,
                 ENTEROVIRUS_RNA, 0.5),
    OutbreakSpec("norovirus-school", NOROVIRUS, 6, 18, 0.35, 0.04, (300, 320), 7, 0.15, None,
                 NOROVIRUS_GII_RNA, 0.7, lab_only=0.25, urban=True),
    OutbreakSpec("scarlet-fever-school", SCARLET_FEVER, 4, 12, 0.3, 0.005, (325, 340), 18, 0.4),
)  # fmt: skip


def _choose_township(
    rng: random.Random, townships: Sequence[Township], spec: OutbreakSpec, used: set[str]
) -> Township:
    """A populous township of the wanted kind, in a county not used yet when there is one."""
    kind = [t for t in townships if spec.urban is None or t.urban == spec.urban] or list(townships)
    fresh = [t for t in kind if t.county.code not in used] or kind
    return rng.choice(sorted(fresh, key=lambda t: (-t.weight, t.name))[:3])


def plan_outbreaks(seed: int, layout: RegionLayout, clock: Clock, avoid: Outbreak) -> list[Outbreak]:
    """Where and when each outbreak of `SPECS` happens (its cases are added as residents are made)."""
    rng = random.Random(f"{seed}:outbreaks")
    used = {avoid.county}
    out = []
    for spec in SPECS:
        township = _choose_township(rng, layout.townships, spec, used)
        used.add(township.county.code)
        start = clock.day_date(rng.randint(*spec.start_days))
        out.append(
            Outbreak(spec.dx.code, spec.dx.display, township.name, township.county.code, township.clinic_id,
                     start, start + timedelta(days=spec.duration - 1))
        )  # fmt: skip
    return out


class OutbreakInjector:
    """Adds each resident's outbreak visits (encounter, vitals, labs, diagnosis, prescriptions, and
    the pathogen test) after their ordinary year of care, and records the cases in the ground truth."""

    def __init__(
        self, seed: int, layout: RegionLayout, clock: Clock, ids: IdAllocator, avoid: Outbreak
    ) -> None:
        self.seed = seed
        self.layout = layout
        self.clock = clock
        self.ids = ids
        self.outbreaks = plan_outbreaks(seed, layout, clock, avoid)
        self._cases = [0] * len(SPECS)

    def inject(
        self,
        person: Person,
        health: Health,
        record_of: Mapping[str, str],
        out: Mapping[str, list[dict[str, Any]]],
    ) -> None:
        """Make `person` a case of the outbreaks of their township that they fall ill in.

        Args:
            person: the resident.
            health: their health (age, baselines) for the visit's vitals.
            record_of: institution id -> the Patient id of the resident's record there.
            out: institution id -> the resources written there, appended to.
        """
        for i, (spec, ob) in enumerate(zip(SPECS, self.outbreaks, strict=True)):
            if person.home_clinic != ob.clinic or (
                spec.max_cases is not None and self._cases[i] >= spec.max_cases
            ):
                continue
            rng = random.Random(f"{self.seed}:{spec.name}:{person.key}")
            susceptible = spec.min_age <= health.age <= spec.max_age
            if rng.random() >= (spec.attack if susceptible else spec.spill):
                continue
            self._cases[i] += 1
            condition = self._case(rng, spec, ob, person, health, record_of, out)
            ob.conditions.append(f"Condition/{condition}")

    def _case(
        self,
        rng: random.Random,
        spec: OutbreakSpec,
        ob: Outbreak,
        person: Person,
        health: Health,
        record_of: Mapping[str, str],
        out: Mapping[str, list[dict[str, Any]]],
    ) -> str:
        hospital = self.layout.county_hospital[self.layout.institutions[person.home_clinic].county.code]
        where = hospital if hospital in record_of and rng.random() < 0.3 else person.home_clinic
        inst = self.layout.institutions[where]
        span = (ob.end - ob.start).days + 1
        day = (ob.start - self.clock.first).days + min(
            span - 1, int(rng.triangular(0, span, span * spec.peak))
        )
        minute = rng.randint(480, 1020)
        lab_only = rng.random() < spec.lab_only
        dx = GASTROENTERITIS if lab_only else spec.dx
        dept = "02" if where == person.home_clinic else ("07" if health.age < 14 else "16")
        chart = Chart(self.ids, self.clock, inst, record_of[where], out[where])
        first = len(chart.out)
        recorder = VisitRecorder(self.clock, rng, health, person.gender == "female")
        condition = recorder.record(chart, Visit(day, minute, where, "acute", "AMB", dept, dx, outbreak=True))
        assert condition is not None  # an outbreak visit always records its diagnosis
        if spec.lab is not None and (lab_only or rng.random() < spec.lab_share):
            encounter = next(r for r in chart.out[first:] if r["resourceType"] == "Encounter")
            self._pathogen_test(rng, chart, encounter["id"], spec.lab, day, minute)
        return condition

    def _pathogen_test(
        self, rng: random.Random, chart: Chart, encounter: str, lab: tuple[str, str], day: int, minute: int
    ) -> None:
        """A positive qualitative pathogen test of the visit, reported the next morning."""
        code, display = lab
        chart.out.append(
            {
                "resourceType": "Observation",
                "id": self.ids.next(chart.inst.id, "o"),
                "status": "final",
                "category": _LAB_CATEGORY,
                "code": {"coding": [{"system": codes.LOINC, "code": code}], "text": display},
                "subject": chart.patient_ref,
                "encounter": {"reference": f"Encounter/{encounter}"},
                "effectiveDateTime": self.clock.at(day, minute + 30),
                "issued": self.clock.at(day + 1, 600),
                "performer": [{"reference": f"Practitioner/{chart.inst.doctor(rng, '30')}"}],
                "valueCodeableConcept": _POSITIVE,
                "interpretation": _POS_FLAG,
                "referenceRange": [{"text": "阴性"}],
            }
        )
