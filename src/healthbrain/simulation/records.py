"""Institutions' own Patient records of a resident: partial copies with realistic data-entry errors.

Every injected defect is returned as an `InjectedError` so that quality checks and the master
patient index can be scored against what really happened.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.identity import is_valid_id_card
from healthbrain.simulation.model import InjectedError, Person
from healthbrain.simulation.names import CONFUSABLE_CHARS
from healthbrain.simulation.region import Institution

_MR_TYPE = {"coding": [{"system": codes.V2_0203, "code": "MR", "display": "Medical record number"}]}
_NI_TYPE = {
    "coding": [{"system": codes.V2_0203, "code": "NI", "display": "National unique individual identifier"}],
    "text": "居民身份证",
}
# Relative frequency of each defect kind, from what registration desks typically get wrong.
ERROR_KINDS: tuple[tuple[str, int], ...] = (
    ("id_digit_typo", 25),
    ("id_transposition", 12),
    ("name_confusable", 25),
    ("phone_outdated", 13),
    ("birthdate_swap", 10),
    ("missing_id_number", 15),
)


def patient_record(
    rng: random.Random,
    person: Person,
    inst: Institution,
    patient_id: str,
    mrn: str,
    general_practitioner: str | None,
) -> dict[str, Any]:
    """A faithful Patient copy, minus the phone or address when the institution did not collect them."""
    record: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [
            {"use": "usual", "type": _MR_TYPE, "system": codes.mrn_system(inst.id), "value": mrn},
            {"use": "official", "type": _NI_TYPE, "system": codes.ID_CARD_SYSTEM, "value": person.id_number},
        ],
        "active": True,
        "name": [{"use": "official", "text": person.name, "family": person.family, "given": [person.given]}],
        "gender": person.gender,
        "birthDate": person.birth_date.isoformat(),
        "managingOrganization": {"reference": f"Organization/{inst.id}"},
    }
    if rng.random() < inst.keeps_phone:
        record["telecom"] = [{"system": "phone", "value": person.phone, "use": "mobile"}]
    if rng.random() < inst.keeps_address:
        record["address"] = [person.address.to_fhir()]
    if general_practitioner is not None:
        # The contracted family doctor (家庭医生签约) of the resident's health record.
        record["generalPractitioner"] = [{"reference": f"Practitioner/{general_practitioner}"}]
    return record


def _error(
    record: dict[str, Any], person: Person, kind: str, field: str, true: str, recorded: str
) -> InjectedError:
    return InjectedError(f"Patient/{record['id']}", person.key, kind, field, true, recorded)


def _set_id_number(record: dict[str, Any], value: str) -> None:
    record["identifier"][1] = {**record["identifier"][1], "value": value}


def _id_typo(rng: random.Random, number: str) -> str:
    """One mistyped digit among the first 17, leaving the check character as it was."""
    pos = rng.randrange(17)
    digit = rng.choice([d for d in "0123456789" if d != number[pos]])
    return number[:pos] + digit + number[pos + 1 :]


def _id_transposition(rng: random.Random, number: str) -> str | None:
    """Two adjacent different digits swapped (the commonest keying error)."""
    positions = [i for i in range(16) if number[i] != number[i + 1]]
    if not positions:
        return None
    i = rng.choice(positions)
    return number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def _name_confusable(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError | None:
    positions = [i for i, ch in enumerate(person.name) if ch in CONFUSABLE_CHARS]
    if not positions:
        return None
    i = rng.choice(positions)
    wrong = person.name[:i] + CONFUSABLE_CHARS[person.name[i]] + person.name[i + 1 :]
    cut = len(person.family)
    record["name"] = [{"use": "official", "text": wrong, "family": wrong[:cut], "given": [wrong[cut:]]}]
    return _error(record, person, "name_confusable", "name", person.name, wrong)


def _phone_outdated(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError | None:
    if "telecom" not in record:
        return None
    record["telecom"] = [{"system": "phone", "value": person.old_phone, "use": "mobile"}]
    return _error(record, person, "phone_outdated", "telecom", person.phone, person.old_phone)


def _birthdate_swap(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError | None:
    born = person.birth_date
    if born.day > 12 or born.day == born.month:
        return None  # swapping would give an impossible or identical date
    wrong = f"{born.year:04d}-{born.day:02d}-{born.month:02d}"
    record["birthDate"] = wrong
    return _error(record, person, "birthdate_swap", "birthDate", born.isoformat(), wrong)


def _missing_id_number(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError | None:
    del record["identifier"][1]
    return _error(record, person, "missing_id_number", "identifier", person.id_number, "")


def _id_swap(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError | None:
    swapped = _id_transposition(rng, person.id_number)
    if swapped is None:
        return None
    _set_id_number(record, swapped)
    return _error(record, person, "id_transposition", "identifier", person.id_number, swapped)


def _id_digit_typo(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError:
    # A typo can by chance keep the checksum valid (1 in 11); realistic, and still recorded.
    wrong = _id_typo(rng, person.id_number)
    _set_id_number(record, wrong)
    return _error(record, person, "id_digit_typo", "identifier", person.id_number, wrong)


_INJECTORS: dict[str, Callable[[random.Random, Person, dict[str, Any]], InjectedError | None]] = {
    "id_digit_typo": _id_digit_typo,
    "id_transposition": _id_swap,
    "name_confusable": _name_confusable,
    "phone_outdated": _phone_outdated,
    "birthdate_swap": _birthdate_swap,
    "missing_id_number": _missing_id_number,
}


def inject_error(rng: random.Random, person: Person, record: dict[str, Any]) -> InjectedError:
    """Apply one defect to `record` in place and describe it.

    Kinds are tried in a weighted random order (Efraimidis-Spirakis keys) until one applies to
    this record, so a kind that cannot apply (no phone kept, day > 12) does not inflate another.
    """
    order = sorted(ERROR_KINDS, key=lambda kw: rng.random() ** (1.0 / kw[1]), reverse=True)
    for kind, _ in order:
        error = _INJECTORS[kind](rng, person, record)
        if error is not None:
            return error
    return _id_digit_typo(rng, person, record)  # unreachable: a digit typo always applies


def duplicate_record(
    rng: random.Random, person: Person, inst: Institution, original: dict[str, Any], patient_id: str, mrn: str
) -> tuple[dict[str, Any], InjectedError]:
    """A second registration of the same person under a new MRN (a forgotten card, an emergency
    admission); half the time the ID number was not captured, as happens at a busy desk."""
    record = patient_record(rng, person, inst, patient_id, mrn, None)
    if rng.random() < 0.5:
        del record["identifier"][1]
    error = InjectedError(
        f"Patient/{patient_id}",
        person.key,
        "duplicate_record",
        "id",
        f"Patient/{original['id']}",
        f"Patient/{patient_id}",
    )
    return record, error


def id_number_is_intact(record: dict[str, Any], person: Person) -> bool:
    """Whether the record carries the person's true, valid ID number (used by tests and checks)."""
    values = [i["value"] for i in record.get("identifier", ()) if i.get("system") == codes.ID_CARD_SYSTEM]
    return bool(values) and values[0] == person.id_number and is_valid_id_card(values[0])
