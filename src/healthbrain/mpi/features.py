"""Chinese identity features: PatientRecords prepared into a RecordFrame for matching."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from healthbrain.mpi import idcard
from healthbrain.mpi.contact import local_number, normalise_phone, parse_address
from healthbrain.mpi.frame import RecordFrame, make_frame
from healthbrain.mpi.names import name_keys
from healthbrain.mpi.records import PatientRecord

ID_FLAGS = ("missing", "ok", "legacy", "invalid", "invalid_shape", "placeholder", "unchecked")
GENDERS = {"male": "male", "female": "female", "m": "male", "f": "female", "男": "male", "女": "female"}
TEXT_COLUMNS = (
    "name", "name_py", "name_bag", "name_fz", "name_shape", "initials", "surname", "surname_py", "given_py",
    "gender", "birth", "birth_year", "id", "id_head", "id_tail", "phone1", "phone2", "local1", "local2",
    "district", "township", "community", "detail", "source_name", "sparse_name",
)  # fmt: skip
NUMBER_COLUMNS = (
    "birth_y", "birth_m", "birth_d", "birth_days", "id_flag", "id_valid", "evidence", "name_han",
    "birth_from_id",
)  # fmt: skip


def parse_birth(text: str) -> tuple[int, int, int]:
    """(year, month, day) of a FHIR date, 0 for the parts it does not give or that are not numbers."""
    parts = text.strip()[:10].split("-")
    out = [0, 0, 0]
    for k, part in enumerate(parts[:3]):
        if part.isdigit():
            out[k] = int(part)
    if not 1850 <= out[0] <= 2200:
        return 0, 0, 0
    return out[0], out[1] if 1 <= out[1] <= 12 else 0, out[2] if 1 <= out[2] <= 31 else 0


def _days(y: int, m: int, d: int) -> int:
    if not (y and m and d):
        return 0
    try:
        return date(y, m, d).toordinal()
    except ValueError:
        return int(y * 365.25 + (m - 1) * 30.44 + d)


def record_features(record: PatientRecord) -> tuple[dict[str, str], dict[str, int]]:
    """The text and number columns of one record."""
    keys = name_keys(record.name, record.family)
    surname = name_keys(keys.family) if keys.is_han and keys.family else keys
    given = name_keys(keys.given) if keys.is_han and keys.given else keys
    number, flag = idcard.normalise_id(record.id_number)
    y, m, d = parse_birth(record.birth_date)
    from_id = 0
    if not y and number and flag in ("unchecked", "legacy"):
        born = idcard.birth_date_of(number)
        if born is not None:
            y, m, d, from_id = born.year, born.month, born.day, 1
    gender = GENDERS.get(record.gender.lower(), "")
    if not gender and flag in ("unchecked", "legacy"):
        gender = idcard.sex_of(number)
    phones = [p for p in dict.fromkeys(normalise_phone(x) for x in record.phones) if p][:2]
    phones += [""] * (2 - len(phones))
    addr = record.address
    parts = parse_address(addr.text, addr.province, addr.city, addr.district)
    district = f"{parts.city}|{parts.district}" if parts.district else ""
    township = f"{district}|{parts.township}" if district and parts.township else ""
    community = f"{township}|{parts.community}" if township and parts.community else ""
    birth = f"{y:04d}{m:02d}{d:02d}" if d else (f"{y:04d}{m:02d}" if m else (f"{y:04d}" if y else ""))
    evidence = sum((bool(number), bool(d), bool(phones[0]), bool(district or parts.detail)))
    text = {
        "name": keys.full, "name_py": keys.pinyin, "name_bag": keys.pinyin_bag, "name_fz": keys.fuzzy,
        "name_shape": keys.shape, "initials": keys.initials, "surname": keys.family,
        "surname_py": surname.pinyin if keys.is_han else keys.family,
        "given_py": given.pinyin if keys.is_han else keys.given,
        "gender": gender, "birth": birth, "birth_year": f"{y:04d}" if y else "",
        "id": number, "id_head": number[:14], "id_tail": number[6:],
        "phone1": phones[0], "phone2": phones[1], "local1": local_number(phones[0]) if phones[0] else "",
        "local2": local_number(phones[1]) if phones[1] else "",
        "district": district, "township": township, "community": community, "detail": parts.detail,
        "source_name": record.source,
        # records with almost nothing but a name are still offered to reviewers: blocked on the name
        "sparse_name": keys.full if evidence < 2 else "",
    }  # fmt: skip
    numbers = {
        "birth_y": y, "birth_m": m, "birth_d": d, "birth_days": _days(y, m, d),
        "id_flag": ID_FLAGS.index(flag), "id_valid": int(flag == "legacy"),
        "evidence": evidence, "name_han": int(keys.is_han), "birth_from_id": from_id,
    }  # fmt: skip
    return text, numbers


def _check_ids(ids: list[str], numbers: dict[str, np.ndarray]) -> None:
    """Settle 'unchecked' ID numbers as ok or invalid with one vectorised check-character test."""
    unchecked = np.flatnonzero(numbers["id_flag"] == ID_FLAGS.index("unchecked"))
    if len(unchecked) == 0:
        return
    valid = idcard.checksums_valid(np.asarray([ids[k] for k in unchecked.tolist()], dtype="U18"))
    numbers["id_flag"][unchecked] = np.where(valid, ID_FLAGS.index("ok"), ID_FLAGS.index("invalid"))
    numbers["id_valid"][unchecked] = valid.astype(np.int64)


def chinese_frame(records: Sequence[PatientRecord]) -> RecordFrame:
    """A RecordFrame of Chinese identity features; `source` codes the managing organisation."""
    text: dict[str, list[str]] = {c: [] for c in TEXT_COLUMNS}
    numbers: dict[str, list[int]] = {c: [] for c in NUMBER_COLUMNS}
    for record in records:
        t, n = record_features(record)
        for k, v in t.items():
            text[k].append(v)
        for k2, v2 in n.items():
            numbers[k2].append(v2)
    sources: dict[str, int] = {}
    source = [sources.setdefault(r.source, len(sources)) for r in records]
    nums = {k: np.asarray(v, dtype=np.int64) for k, v in numbers.items()}
    _check_ids(text["id"], nums)
    return make_frame([r.ref for r in records], text, source=source, numbers=nums)
