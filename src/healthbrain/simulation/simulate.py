"""Runs a simulation: the layout, then residents one by one with their records, charts and ground truth."""

from __future__ import annotations

import bisect
import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.care import Planner, draw_health
from healthbrain.simulation.chart import Chart, Clock, IdAllocator
from healthbrain.simulation.encounters import VisitRecorder
from healthbrain.simulation.identity import (
    HomeAddress,
    draw_age,
    draw_mobile,
    draw_name,
    draw_street,
    make_id_card,
)
from healthbrain.simulation.model import GroundTruth, Outbreak, Person, Region, RegionConfig
from healthbrain.simulation.outbreaks import OutbreakInjector
from healthbrain.simulation.places import MIGRANT_AREA_CODES, PROVINCE_NAME
from healthbrain.simulation.records import duplicate_record, inject_error, patient_record
from healthbrain.simulation.region import RegionLayout, Township, build_layout

MALE_SHARE = 0.512  # 2020 census sex ratio 105.07
LOCAL_BIRTH_SHARE = 0.9  # residents whose 身份证 was issued in their county of residence


@dataclass(frozen=True, slots=True)
class ResidentOutput:
    """One resident and the resources each institution holds about them, in write order."""

    person: Person
    resources: dict[str, list[dict[str, Any]]]  # institution id -> resources


def choose_outbreak(rng: random.Random, layout: RegionLayout, clock: Clock) -> Outbreak:
    """A three-week spring influenza cluster in one of the most populous townships, off the
    winter season so that surveillance has to find it above a low baseline."""
    township = rng.choice(sorted(layout.townships, key=lambda t: -t.weight)[:3])
    start = clock.day_date(rng.randint(80, 120))
    return Outbreak(
        disease=codes.INFLUENZA.code,
        display=codes.INFLUENZA.display,
        township=township.name,
        county=township.county.code,
        clinic=township.clinic_id,
        start=start,
        end=start + timedelta(days=20),
    )


class Simulation:
    """A deterministic simulation run. Residents are generated lazily, in order, by `residents()`;
    each draws from its own seeded stream so that its traits do not depend on earlier residents."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config
        rng = random.Random(config.seed)
        self.layout = build_layout(rng)
        self.clock = Clock(config.year)
        self.outbreak = choose_outbreak(rng, self.layout, self.clock)
        self.truth = GroundTruth(outbreaks=[self.outbreak])
        self.persons: dict[str, Person] = {}
        self.ids = IdAllocator()
        self.planner = Planner(self.layout, self.clock.first, self.clock.length, self.outbreak)
        self.injector = OutbreakInjector(config.seed, self.layout, self.clock, self.ids, self.outbreak)
        self.truth.extra_outbreaks.extend(self.injector.outbreaks)
        self._township_cumulative = tuple(accumulate(t.weight for t in self.layout.townships))
        self._id_numbers: set[str] = set()

    def residents(self) -> Iterator[ResidentOutput]:
        for index in range(self.config.patients):
            yield self._resident(index)

    def _township(self, rng: random.Random) -> Township:
        cumulative = self._township_cumulative
        return self.layout.townships[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]

    def _person(self, rng: random.Random, index: int) -> Person:
        year = self.config.year
        age = draw_age(rng)
        birth = date(year - age - 1, 1, 2) + timedelta(days=rng.randrange(364))
        gender = "male" if rng.random() < MALE_SHARE else "female"
        township = self._township(rng)
        county = township.county
        area = county.code if rng.random() < LOCAL_BIRTH_SHARE else rng.choice(MIGRANT_AREA_CODES)
        parity = 1 if gender == "male" else 0
        while True:
            id_number = make_id_card(area, birth, rng.randrange(500) * 2 + parity)
            if id_number not in self._id_numbers:
                self._id_numbers.add(id_number)
                break
        family, given = draw_name(rng, gender, birth.year)
        phone = draw_mobile(rng)
        community = rng.choice(township.communities)
        address = HomeAddress(
            PROVINCE_NAME, township.city.name, county.name, township.name, community,
            draw_street(rng, township.urban), county.postal_code,
        )  # fmt: skip
        person = Person(
            key=f"person-{index + 1:06d}",
            family=family,
            given=given,
            gender=gender,
            birth_date=birth,
            id_number=id_number,
            phone=phone,
            old_phone=draw_mobile(rng),
            address=address,
            home_clinic=township.clinic_id,
        )
        self.persons[person.key] = person
        return person

    def _resident(self, index: int) -> ResidentOutput:
        config = self.config
        rng = random.Random((config.seed << 32) + index + 1)
        person = self._person(rng, index)
        health = draw_health(rng, person, self.clock.first)
        visits = self.planner.plan(rng, person, health, person.home_clinic == self.outbreak.clinic)
        order = [person.home_clinic]
        for visit in visits:
            if visit.institution not in order:
                order.append(visit.institution)
        out: dict[str, list[dict[str, Any]]] = {}
        record_of: dict[str, str] = {}  # institution id -> Patient id used by its visits
        duplicate_of: dict[str, str] = {}
        for inst_id in order:
            inst = self.layout.institutions[inst_id]
            pid = self.ids.next(inst_id, "p")
            gp = inst.doctor(rng, "02") if inst_id == person.home_clinic else None
            record = patient_record(rng, person, inst, pid, pid.rsplit("-", 1)[1], gp)
            if rng.random() < config.noise_rate:
                self.truth.errors.append(inject_error(rng, person, record))
            self.truth.records[f"Patient/{pid}"] = person.key
            out[inst_id] = [record]
            record_of[inst_id] = pid
            if rng.random() < config.duplicate_rate:
                dup_id = self.ids.next(inst_id, "p")
                dup, error = duplicate_record(rng, person, inst, record, dup_id, dup_id.rsplit("-", 1)[1])
                self.truth.errors.append(error)
                self.truth.records[f"Patient/{dup_id}"] = person.key
                out[inst_id].append(dup)
                duplicate_of[inst_id] = dup_id
        recorder = VisitRecorder(self.clock, rng, health, person.gender == "female")
        charts: dict[str, Chart] = {}
        last_visit = {v.institution: i for i, v in enumerate(visits)}
        for i, visit in enumerate(visits):
            pid = record_of[visit.institution]
            # The duplicate registration is the one used at the person's latest visit there.
            if visit.institution in duplicate_of and last_visit[visit.institution] == i and i > 0:
                pid = duplicate_of[visit.institution]
            chart = charts.get(pid)
            if chart is None:
                inst = self.layout.institutions[visit.institution]
                chart = charts[pid] = Chart(self.ids, self.clock, inst, pid, out[visit.institution])
            case = recorder.record(chart, visit)
            if case is not None:
                self.outbreak.conditions.append(f"Condition/{case}")
        self.injector.inject(person, health, record_of, out)
        return ResidentOutput(person, out)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic dicts are created.

    The generator makes no reference cycles, so reference counting frees everything; left on,
    the collector would re-traverse the growing set of live objects and double the run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate_region(config: RegionConfig) -> Region:
    """Simulate a whole region in memory (meant for tests and small regions; `write_region` streams).

    Returns:
        The region-wide resources, each institution's resources in write order, the true persons
        and the ground truth.
    """
    sim = Simulation(config)
    institutions: dict[str, list[dict[str, Any]]] = {inst: [] for inst in sim.layout.institutions}
    with paused_gc():
        for resident in sim.residents():
            for inst, resources in resident.resources.items():
                institutions[inst].extend(resources)
    return Region(config, sim.layout.resources, institutions, sim.persons, sim.truth)
