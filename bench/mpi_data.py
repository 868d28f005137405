"""Chinese patient-index benchmark data: simulated residents' Patient records with extra corruption.

The simulator registers each resident at several institutions with its own injected errors
(ID digit typos and transpositions, confusable name characters, outdated phones, swapped birth
dates, missing ID numbers, duplicate registrations). On top of that this module adds what
registration desks and migrations produce: moved homes, new phones, traditional characters,
15-digit legacy ID numbers, names typed in pinyin, partial or missing birth dates, placeholder
ID numbers, records with a name only, and hard negatives: twins and family members sharing a
phone and a home. Ground truth maps each record to its true person.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from opencc import OpenCC
from pypinyin import lazy_pinyin

from healthbrain.mpi.idcard import check_char
from healthbrain.mpi.records import PatientRecord, patient_record
from healthbrain.simulation import ID_CARD_SYSTEM, RegionConfig
from healthbrain.simulation.identity import draw_mobile, draw_name
from healthbrain.simulation.simulate import Simulation

# Share of records receiving each extra defect (independently).
EXTRA = {
    "moved_home": 0.08,
    "new_phone": 0.08,
    "phone_format": 0.04,
    "traditional": 0.02,
    "legacy_id": 0.03,
    "pinyin_name": 0.01,
    "year_only_birth": 0.01,
    "no_birth": 0.02,
    "placeholder_id": 0.01,
    "name_only": 0.005,
}
TWIN_SHARE = 0.01  # persons with a twin registered at their clinic
FAMILY_SHARE = 0.02  # persons with a relative sharing phone and home at their clinic


@dataclass(frozen=True, slots=True)
class BenchData:
    """Patient resources in arrival order and the true person of each (by `Patient/<id>`)."""

    patients: list[dict[str, Any]]
    truth: dict[str, str]
    kinds: dict[str, int]


def _id_value(record: dict[str, Any]) -> tuple[int, str] | None:
    for k, ident in enumerate(record.get("identifier", [])):
        if ident.get("system") == ID_CARD_SYSTEM:
            return k, str(ident["value"])
    return None


def _set_id(record: dict[str, Any], value: str | None) -> None:
    found = _id_value(record)
    if found is None:
        return
    if value is None:
        del record["identifier"][found[0]]
    else:
        record["identifier"][found[0]] = {**record["identifier"][found[0]], "value": value}


def _sibling_id(number: str, birth: date, male: bool, rng: random.Random) -> str:
    serial = (int(number[14:17]) + rng.choice((2, 4, 6))) % 1000
    serial += (serial % 2) != (1 if male else 0)
    first17 = f"{number[:6]}{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_char(first17)


class Corruptor:
    """Applies the extra defects and makes twins and relatives; deterministic for a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.t2s = OpenCC("s2t")
        self.addresses: list[dict[str, Any]] = []
        self.kinds: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def corrupt(self, record: dict[str, Any]) -> None:
        rng = self.rng
        if "address" in record:
            self.addresses.append(record["address"][0])
            if len(self.addresses) > 5000:
                self.addresses.pop(rng.randrange(len(self.addresses)))
        for kind, share in EXTRA.items():
            if rng.random() < share:
                getattr(self, f"_{kind}")(record)

    def _moved_home(self, r: dict[str, Any]) -> None:
        if "address" in r and self.addresses:
            r["address"] = [copy.deepcopy(self.rng.choice(self.addresses))]
            self._count("moved_home")

    def _new_phone(self, r: dict[str, Any]) -> None:
        if "telecom" in r:
            r["telecom"] = [{"system": "phone", "value": draw_mobile(self.rng), "use": "mobile"}]
            self._count("new_phone")

    def _phone_format(self, r: dict[str, Any]) -> None:
        if "telecom" in r:
            v = r["telecom"][0]["value"]
            r["telecom"][0] = {**r["telecom"][0], "value": f"+86 {v[:3]}-{v[3:7]}-{v[7:]}"}
            self._count("phone_format")

    def _traditional(self, r: dict[str, Any]) -> None:
        name = r["name"][0]
        r["name"] = [
            {**name, "text": self.t2s.convert(name["text"]), "family": self.t2s.convert(name["family"])}
        ]
        self._count("traditional")

    def _legacy_id(self, r: dict[str, Any]) -> None:
        found = _id_value(r)
        if found and found[1][6:8] == "19" and len(found[1]) == 18:
            _set_id(r, found[1][:6] + found[1][8:17])
            self._count("legacy_id")

    def _pinyin_name(self, r: dict[str, Any]) -> None:
        name = r["name"][0]
        family = "".join(lazy_pinyin(name["family"])).upper()
        given = "".join(lazy_pinyin("".join(name["given"]))).capitalize()
        r["name"] = [{"use": "official", "family": family, "given": [given]}]
        self._count("pinyin_name")

    def _year_only_birth(self, r: dict[str, Any]) -> None:
        if "birthDate" in r:
            r["birthDate"] = r["birthDate"][:4]
            self._count("year_only_birth")

    def _no_birth(self, r: dict[str, Any]) -> None:
        r.pop("birthDate", None)
        self._count("no_birth")

    def _placeholder_id(self, r: dict[str, Any]) -> None:
        if _id_value(r):
            _set_id(r, "000000000000000000")
            self._count("placeholder_id")

    def _name_only(self, r: dict[str, Any]) -> None:
        for key in ("birthDate", "telecom", "address", "gender"):
            r.pop(key, None)
        _set_id(r, None)
        self._count("name_only")

    def relative(self, r: dict[str, Any], new_id: str, twin: bool) -> dict[str, Any]:
        """A twin (same birth, sibling ID, other given name) or a relative sharing phone and home."""
        rng = self.rng
        out = copy.deepcopy(r)
        out["id"] = new_id
        out["identifier"] = [i for i in out["identifier"] if i.get("system") == ID_CARD_SYSTEM] + [
            {**r["identifier"][0], "value": new_id.rsplit("-", 1)[-1]}
        ]
        born = date.fromisoformat(r["birthDate"]) if len(r.get("birthDate", "")) == 10 else date(1980, 1, 1)
        male = rng.random() < 0.5
        if not twin:
            born = born + timedelta(days=rng.choice((-1, 1)) * rng.randint(700, 11000))
            born = min(born, date(2024, 12, 31))
        family = r["name"][0].get("family", "")
        _, given = draw_name(rng, "male" if male else "female", born.year)
        if not twin and rng.random() < 0.4:
            family, _ = draw_name(rng, "male", born.year)  # a spouse keeps her own surname
        out["name"] = [{"use": "official", "text": family + given, "family": family, "given": [given]}]
        out["gender"] = "male" if male else "female"
        out["birthDate"] = born.isoformat()
        found = _id_value(out)
        if found:
            base = found[1] if len(found[1]) == 18 else found[1][:6] + "19" + found[1][6:] + "0"
            _set_id(out, _sibling_id(base, born, male, rng))
        self._count("twin" if twin else "relative")
        return out


def chinese_records(residents: int, seed: int = 2025) -> BenchData:
    """Records of `residents` simulated residents (about 1.5 each) plus twins and relatives."""
    config = RegionConfig(patients=residents, seed=seed, noise_rate=0.1, duplicate_rate=0.03)
    sim = Simulation(config)
    corruptor = Corruptor(seed)
    patients: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for resident in sim.residents():
        for records in resident.resources.values():
            for r in records:
                if r.get("resourceType") != "Patient":
                    continue
                ref = f"Patient/{r['id']}"
                truth[ref] = sim.truth.records[ref]
                first = len(patients) == 0 or truth[f"Patient/{patients[-1]['id']}"] != truth[ref]
                corruptor.corrupt(r)
                patients.append(r)
                if first and corruptor.rng.random() < TWIN_SHARE + FAMILY_SHARE:
                    twin = corruptor.rng.random() < TWIN_SHARE / (TWIN_SHARE + FAMILY_SHARE)
                    extra = corruptor.relative(r, f"{r['id']}-rel", twin)
                    truth[f"Patient/{extra['id']}"] = f"{truth[ref]}-rel"
                    patients.append(extra)
    return BenchData(patients, truth, dict(sorted(corruptor.kinds.items())))


def iter_patients(data: BenchData) -> Iterator[dict[str, Any]]:
    yield from data.patients


def stream_records(target: int, seed: int = 2025) -> tuple[list[PatientRecord], list[str]]:
    """About `target` records as PatientRecords (dicts dropped as they go) and their true persons."""
    residents = int(target / 1.50) + 1
    config = RegionConfig(patients=residents, seed=seed, noise_rate=0.1, duplicate_rate=0.03)
    sim = Simulation(config)
    corruptor = Corruptor(seed)
    records: list[PatientRecord] = []
    truth: list[str] = []
    for resident in sim.residents():
        first = True
        for group in resident.resources.values():
            for r in group:
                if r.get("resourceType") != "Patient":
                    continue
                corruptor.corrupt(r)
                records.append(patient_record(r))
                truth.append(resident.person.key)
                if first and corruptor.rng.random() < TWIN_SHARE + FAMILY_SHARE:
                    twin = corruptor.rng.random() < TWIN_SHARE / (TWIN_SHARE + FAMILY_SHARE)
                    records.append(patient_record(corruptor.relative(r, f"{r['id']}-rel", twin)))
                    truth.append(f"{resident.person.key}-rel")
                first = False
        sim.truth.records.clear()
        if len(records) >= target:
            break
    return records, truth
