"""Value objects of the simulation: its configuration, the true persons, the ground truth and results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from healthbrain.core.errors import InvalidInput
from healthbrain.simulation.identity import HomeAddress


@dataclass(frozen=True, slots=True)
class RegionConfig:
    """What to simulate. The same config always yields byte-identical output.

    Attributes:
        patients: number of residents (true persons); each has at least a primary-care record.
        seed: seed of every random draw.
        year: the calendar year of clinical activity.
        noise_rate: share of Patient records carrying one injected data-entry error.
        duplicate_rate: share of (person, institution) pairs registered twice under two MRNs.
        chunk_size: maximum entries per transaction Bundle file, so each commits quickly.
    """

    patients: int = 2000
    seed: int = 42
    year: int = 2025
    noise_rate: float = 0.04
    duplicate_rate: float = 0.01
    chunk_size: int = 2000

    def __post_init__(self) -> None:
        problems = []
        if self.patients < 1:
            problems.append("patients must be at least 1")
        if not 0.0 <= self.noise_rate <= 0.5:
            problems.append("noise_rate must be within [0, 0.5]")
        if not 0.0 <= self.duplicate_rate <= 0.2:
            problems.append("duplicate_rate must be within [0, 0.2]")
        if self.chunk_size < 200:
            problems.append("chunk_size must be at least 200")
        if not 1950 <= self.year <= 2100:
            problems.append("year must be within 1950-2100")
        if problems:
            raise InvalidInput("; ".join(problems), code="simulation.invalid_config")


@dataclass(frozen=True, slots=True)
class Person:
    """A true resident, as they really are; institutions hold copies that may be partial or wrong."""

    key: str  # person-000001
    family: str
    given: str
    gender: str  # FHIR administrative gender: male | female
    birth_date: date
    id_number: str  # 居民身份证号码
    phone: str
    old_phone: str  # a number the resident used before; stale records still carry it
    address: HomeAddress
    home_clinic: str  # Organization id of the primary-care clinic holding the health record

    @property
    def name(self) -> str:
        return self.family + self.given

    def age_on(self, day: date) -> int:
        """Completed years of age on `day`."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "given": self.given,
            "gender": self.gender,
            "birthDate": self.birth_date.isoformat(),
            "idNumber": self.id_number,
            "phone": self.phone,
            "address": self.address.text,
            "homeClinic": self.home_clinic,
        }


@dataclass(frozen=True, slots=True)
class InjectedError:
    """One deliberate defect in an institution's Patient record (`record` is `Patient/<id>`).

    Kinds: id_digit_typo, id_transposition, name_confusable, phone_outdated, birthdate_swap,
    missing_id_number, duplicate_record (a second record of a person already registered there,
    whose `recorded` value is the first record's reference).
    """

    record: str
    person: str
    kind: str
    field: str
    true_value: str
    recorded: str

    def to_json(self) -> dict[str, str]:
        return {
            "record": self.record,
            "person": self.person,
            "kind": self.kind,
            "field": self.field,
            "trueValue": self.true_value,
            "recorded": self.recorded,
        }


@dataclass(slots=True)
class Outbreak:
    """An injected cluster of a notifiable disease, with the Conditions that belong to it."""

    disease: str  # ICD-10 code
    display: str
    township: str
    county: str  # GB/T 2260 code
    clinic: str  # Organization id of the township's clinic
    start: date
    end: date
    conditions: list[str] = field(default_factory=list)  # Condition/<id> of the outbreak cases

    def to_json(self) -> dict[str, Any]:
        return {
            "disease": self.disease,
            "display": self.display,
            "township": self.township,
            "county": self.county,
            "clinic": self.clinic,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "cases": len(self.conditions),
            "conditions": self.conditions,
        }


@dataclass(slots=True)
class GroundTruth:
    """What quality checks, the patient index and surveillance should find."""

    records: dict[str, str] = field(default_factory=dict)  # Patient/<id> -> person key
    errors: list[InjectedError] = field(default_factory=list)
    outbreaks: list[Outbreak] = field(default_factory=list)
    extra_outbreaks: list[Outbreak] = field(default_factory=list)  # simulation.outbreaks: HFMD, measles ...

    def to_json(self, persons: Mapping[str, Person] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "records": self.records,
            "errors": [e.to_json() for e in self.errors],
            "outbreaks": [o.to_json() for o in self.outbreaks],
            "extraOutbreaks": [o.to_json() for o in self.extra_outbreaks],
        }
        if persons is not None:
            doc["persons"] = {key: p.to_json() for key, p in persons.items()}
        return doc


@dataclass(frozen=True, slots=True, eq=False)
class Region:
    """A simulated region held in memory: region-wide resources, each institution's resources
    in write order, the true persons and the ground truth."""

    config: RegionConfig
    shared: tuple[dict[str, Any], ...]
    institutions: Mapping[str, list[dict[str, Any]]]
    persons: Mapping[str, Person]
    ground_truth: GroundTruth

    def resources(self) -> Iterator[dict[str, Any]]:
        """Every resource, region-wide ones first."""
        yield from self.shared
        for resources in self.institutions.values():
            yield from resources

    def counts(self) -> dict[str, int]:
        """Number of resources per resource type."""
        return dict(sorted(Counter(r["resourceType"] for r in self.resources()).items()))


@dataclass(frozen=True, slots=True)
class RegionSummary:
    """What `write_region` wrote: resources per type, the files in ingest order, persons simulated."""

    counts: dict[str, int]
    files: tuple[Path, ...]
    persons: int
    errors: int
    ground_truth: Path
