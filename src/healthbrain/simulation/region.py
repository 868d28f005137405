"""The region's fixed structure: administrative hierarchy, institutions, locations and staff."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.identity import draw_mobile, draw_name
from healthbrain.simulation.places import (
    CITIES,
    COMMUNITY_SUFFIX,
    PLACE_FRAGMENTS,
    PROVINCE_CODE,
    PROVINCE_NAME,
    VILLAGE_SUFFIX,
    City,
    County,
)

# Doctors per department code and nurses, by institution kind. Real county hospitals employ
# hundreds; a few dozen per hospital keep the region file small while giving every department
# several names to attribute encounters to.
STAFFING: dict[str, tuple[dict[str, int], int]] = {
    "general": ({"03": 6, "04": 4, "07": 3, "05": 3, "20": 3, "16": 2, "50": 1, "30": 2}, 10),
    "tcm": ({"50": 6, "03": 2, "21": 2, "20": 1, "30": 1}, 4),
    "mch": ({"05": 5, "07": 4, "09": 3, "06": 2, "30": 1}, 6),
    "chc": ({"02": 4, "01": 1, "50": 1, "30": 1}, 3),
    "thc": ({"02": 3, "01": 1, "50": 1, "30": 1}, 3),
}
KIND_TYPE = {"general": "A1", "tcm": "A21", "mch": "G1", "chc": "B1", "thc": "C2"}
# Share of Patient records keeping (phone, address): hospitals register patients at the desk
# with the ID card and often skip the address; primary care keeps full health records (健康档案).
RECORD_POLICY = {
    "general": (0.9, 0.6),
    "tcm": (0.85, 0.5),
    "mch": (0.95, 0.8),
    "chc": (0.97, 1.0),
    "thc": (0.95, 1.0),
}
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True, slots=True)
class Township:
    """A township (乡镇) or street (街道): where residents live, served by one primary-care clinic."""

    name: str
    city: City
    county: County
    urban: bool
    communities: tuple[str, ...]
    clinic_id: str
    weight: float  # relative population


@dataclass(frozen=True, slots=True, eq=False)
class Institution:
    """A healthcare provider with its locations and staff ids (the FHIR resources are in the layout)."""

    id: str
    name: str
    kind: str  # general | tcm | mch | chc | thc
    city: City
    county: County
    site: str  # Location ids
    outpatient: str
    emergency: str | None
    ward: str | None
    doctors: Mapping[str, tuple[str, ...]]  # department code -> Practitioner ids
    nurses: tuple[str, ...]
    keeps_phone: float
    keeps_address: float

    @property
    def is_primary_care(self) -> bool:
        return self.kind in ("chc", "thc")

    def doctor(self, rng: random.Random, *departments: str) -> str:
        """A doctor of the first listed department the institution has, else any doctor."""
        for dept in departments:
            staff = self.doctors.get(dept)
            if staff:
                return rng.choice(staff)
        return rng.choice(next(iter(self.doctors.values())))


@dataclass(frozen=True, slots=True, eq=False)
class RegionLayout:
    """Everything fixed before residents are generated; `resources` go into 00-region.json."""

    resources: tuple[dict[str, Any], ...]
    institutions: Mapping[str, Institution]
    townships: tuple[Township, ...]
    county_hospital: Mapping[str, str]  # county code -> general hospital id
    tcm_hospital: Mapping[str, str]  # county code -> TCM hospital id (not every county has one)
    mch_hospital: Mapping[str, str]  # city code -> maternal and child health hospital id


def uscc(rng: random.Random, area_code: str) -> str:
    """A 统一社会信用代码 (GB 32100) of a public institution (事业单位, prefix 12), check chars valid."""
    body = f"{rng.randrange(10**8):08d}"
    org_check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True)) % 11
    org_code = body + {10: "X", 11: "0"}.get(org_check, str(org_check))
    first17 = "12" + area_code + org_code
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_CHARS[(31 - total % 31) % 31]


def _ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return {"coding": [coding]}


class _LayoutBuilder:
    """Accumulates the region resources; one instance per simulation run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.resources: list[dict[str, Any]] = []
        self.institutions: dict[str, Institution] = {}
        self.fragments = list(PLACE_FRAGMENTS)
        rng.shuffle(self.fragments)
        self.license_serial = 0

    def fragment(self) -> str:
        """A place-name fragment not used before in this region (fictional townships stay unique)."""
        if self.fragments:
            return self.fragments.pop()
        return f"新{len(self.resources)}"

    def admin(self, rid: str, name: str, level: str, area_code: str, parent: str | None) -> None:
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": rid,
            "identifier": [{"system": codes.AREA_CODE_SYSTEM, "value": area_code}],
            "active": True,
            "type": [
                _coding(codes.ORG_TYPE, "govt", "Government"),
                _coding(codes.ADMIN_LEVEL_SYSTEM, level, codes.ADMIN_LEVELS[level]),
            ],
            "name": name,
            "alias": [f"{name}卫生健康{'委员会' if level != 'county' else '局'}"],
        }
        if parent is not None:
            org["partOf"] = _ref("Organization", parent)
        self.resources.append(org)

    def institution(
        self, rid: str, name: str, kind: str, city: City, county: County, parent: str, street: str
    ) -> Institution:
        rng = self.rng
        address = {
            "use": "work",
            "type": "physical",
            "text": f"{PROVINCE_NAME}{city.name}{county.name}{street}",
            "line": [street],
            "city": city.name,
            "district": county.name,
            "state": PROVINCE_NAME,
            "postalCode": county.postal_code,
            "country": "CN",
        }
        type_code = KIND_TYPE[kind]
        self.resources.append(
            {
                "resourceType": "Organization",
                "id": rid,
                "identifier": [{"system": codes.USCC_SYSTEM, "value": uscc(rng, county.code)}],
                "active": True,
                "type": [
                    _coding(codes.ORG_TYPE, "prov", "Healthcare Provider"),
                    _coding(codes.INSTITUTION_TYPE_SYSTEM, type_code, codes.INSTITUTION_TYPES[type_code]),
                ],
                "name": name,
                "telecom": [
                    {
                        "system": "phone",
                        "value": f"{city.phone_area}-{rng.randrange(10**7):07d}",
                        "use": "work",
                    }
                ],
                "address": [address],
                "partOf": _ref("Organization", parent),
            }
        )
        hospital = not kind.endswith("hc")
        site = self._location(rid, "site", name, "HOSP" if hospital else "FMC", "bu", None, address)
        opd = self._location(rid, "opd", f"{name}门诊部", "OF", "wi", site, None)
        er = self._location(rid, "er", f"{name}急诊科", "ER", "wi", site, None) if hospital else None
        ward = self._location(rid, "ward", f"{name}住院部", "HU", "wi", site, None) if hospital else None
        doctors, nurses = self._staff(rid, kind, opd)
        inst = Institution(
            rid, name, kind, city, county, site, opd, er, ward,
            MappingProxyType(doctors), nurses, *RECORD_POLICY[kind],
        )  # fmt: skip
        self.institutions[rid] = inst
        return inst

    def _location(
        self,
        inst: str,
        suffix: str,
        name: str,
        role: str,
        physical: str,
        part_of: str | None,
        address: dict[str, Any] | None,
    ) -> str:
        rid = f"{inst}-loc-{suffix}"
        loc: dict[str, Any] = {
            "resourceType": "Location",
            "id": rid,
            "status": "active",
            "name": name,
            "mode": "instance",
            "type": [_coding(codes.V3_ROLE_CODE, role)],
            "physicalType": _coding(codes.LOCATION_PHYSICAL, physical),
            "managingOrganization": _ref("Organization", inst),
        }
        if address is not None:
            loc["address"] = address
        if part_of is not None:
            loc["partOf"] = _ref("Location", part_of)
        self.resources.append(loc)
        return rid

    def _staff(
        self, inst: str, kind: str, location: str
    ) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
        departments, nurse_count = STAFFING[kind]
        doctors: dict[str, tuple[str, ...]] = {}
        serial = 0
        for dept, count in departments.items():
            ids = []
            for _ in range(count):
                serial += 1
                ids.append(self._practitioner(f"{inst}-dr-{serial:03d}", "doctor", dept, inst, location))
            doctors[dept] = tuple(ids)
        nurses = tuple(
            self._practitioner(f"{inst}-rn-{n:03d}", "nurse", None, inst, location)
            for n in range(1, nurse_count + 1)
        )
        return doctors, nurses

    def _practitioner(self, rid: str, role: str, dept: str | None, inst: str, location: str) -> str:
        rng = self.rng
        sex = "female" if rng.random() < (0.9 if role == "nurse" else 0.45) else "male"
        family, given = draw_name(rng, sex, rng.randint(1965, 1999))
        self.license_serial += 1
        self.resources.append(
            {
                "resourceType": "Practitioner",
                "id": rid,
                "identifier": [
                    {
                        "system": codes.LICENSE_SYSTEM,
                        "value": f"1{PROVINCE_CODE[:2]}{self.license_serial:012d}",
                    }
                ],
                "active": True,
                "name": [{"use": "official", "text": family + given, "family": family, "given": [given]}],
                "telecom": [{"system": "phone", "value": draw_mobile(rng), "use": "work"}],
                "gender": sex,
                "qualification": [{"code": {"text": "执业医师" if role == "doctor" else "执业护士"}}],
            }
        )
        role_resource: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": f"{rid}-role",
            "active": True,
            "practitioner": _ref("Practitioner", rid),
            "organization": _ref("Organization", inst),
            "code": [_coding(codes.PRACTITIONER_ROLE, role)],
            "location": [_ref("Location", location)],
        }
        if dept is not None:
            role_resource["specialty"] = [_coding(codes.DEPARTMENT_SYSTEM, dept, codes.DEPARTMENTS[dept])]
        self.resources.append(role_resource)
        return rid

    def townships(self, city: City, county: County) -> list[Township]:
        rng = self.rng
        result = []
        for n in range(1, rng.randint(4, 6) + 1):
            # The county seat is always a 街道; urban districts are mostly 街道, rural counties 镇/乡.
            is_street = n == 1 or (county.urban and rng.random() < 0.7)
            base = self.fragment()
            name = base + ("街道" if is_street else rng.choice(("镇", "镇", "乡")))
            clinic_kind = "chc" if is_street else "thc"
            clinic_name = f"{name}社区卫生服务中心" if is_street else f"{county.name}{name}卫生院"
            code = "sqzx" if is_street else "wsy"
            clinic = self.institution(
                f"{county.slug}-{code}{n:02d}", clinic_name, clinic_kind, city, county,
                f"adm-{county.code}", f"{name}{rng.randint(1, 200)}号",
            )  # fmt: skip
            suffix = COMMUNITY_SUFFIX if is_street else VILLAGE_SUFFIX
            communities = tuple(self._community(suffix) for _ in range(rng.randint(4, 8)))
            weight = (3.0 if is_street else 1.0) * rng.uniform(0.6, 1.4)
            result.append(Township(name, city, county, is_street, communities, clinic.id, weight))
        return result

    def _community(self, suffix: str) -> str:
        rng = self.rng
        if suffix == VILLAGE_SUFFIX and rng.random() < 0.5:
            # 张家村, 下王村: villages are commonly named after a clan.
            family = draw_name(rng, "male", 1960)[0]
            return f"{rng.choice(('', '上', '下', '前', '后'))}{family}{rng.choice(('家', '宅', ''))}{suffix}"
        return rng.choice(PLACE_FRAGMENTS) + suffix


def build_layout(rng: random.Random) -> RegionLayout:
    """Province → 1-2 cities → 3-6 counties, each county with a general hospital, most with a TCM
    hospital, 4-6 township clinics, plus one maternal and child health hospital per city."""
    builder = _LayoutBuilder(rng)
    builder.admin(f"adm-{PROVINCE_CODE}", PROVINCE_NAME, "province", PROVINCE_CODE, None)
    n_cities = rng.choice((1, 2))
    townships: list[Township] = []
    county_hospital: dict[str, str] = {}
    tcm_hospital: dict[str, str] = {}
    mch_hospital: dict[str, str] = {}
    for city in CITIES[:n_cities]:
        builder.admin(f"adm-{city.code}", city.name, "city", city.code, f"adm-{PROVINCE_CODE}")
        # The urban district (the city seat) always takes part; it hosts the city's MCH hospital.
        others = [c for c in city.counties if not c.urban]
        count = rng.randint(3, 4) if n_cities == 1 else rng.randint(2, 3)
        chosen = [city.counties[0], *rng.sample(others, min(count - 1, len(others)))]
        for county in chosen:
            builder.admin(f"adm-{county.code}", county.name, "county", county.code, f"adm-{city.code}")
            parent = f"adm-{county.code}"
            general = builder.institution(
                f"{county.slug}-rmyy", f"{county.name}人民医院", "general", city, county, parent,
                f"{rng.choice(('人民路', '解放路', '中山路', '府前路'))}{rng.randint(1, 300)}号",
            )  # fmt: skip
            county_hospital[county.code] = general.id
            if county is city.counties[0] or rng.random() < 0.8:
                tcm = builder.institution(
                    f"{county.slug}-zyy", f"{county.name}中医医院", "tcm", city, county, parent,
                    f"{rng.choice(('新华路', '建设路', '文化路'))}{rng.randint(1, 300)}号",
                )  # fmt: skip
                tcm_hospital[county.code] = tcm.id
            townships.extend(builder.townships(city, county))
        seat = city.counties[0]
        mch = builder.institution(
            f"{city.slug}-fybjy", f"{city.name}妇幼保健院", "mch", city, seat, f"adm-{city.code}",
            f"{rng.choice(('花园路', '和平路', '学院路'))}{rng.randint(1, 300)}号",
        )  # fmt: skip
        mch_hospital[city.code] = mch.id
    return RegionLayout(
        tuple(builder.resources),
        MappingProxyType(builder.institutions),
        tuple(townships),
        MappingProxyType(county_hospital),
        MappingProxyType(tcm_hospital),
        MappingProxyType(mch_hospital),
    )
