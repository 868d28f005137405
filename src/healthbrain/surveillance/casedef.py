"""Case definitions: ICD-10 codes to the notifiable diseases of the PRC law (甲类/乙类/丙类) and to
syndromes (fever, diarrhoea, rash, respiratory), with each disease's default detection rule.

Classes and diseases follow the Law on the Prevention and Control of Infectious Diseases (2013
list with later additions: COVID-19 in 乙类 from 2023, mpox in 乙类 from 2023). The ICD-10 mapping
is by code prefix; the longest prefix wins (J09 = avian influenza in humans before J1x influenza).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ICD10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cn",
                           "urn:oid:2.16.156.10011.2.3.3.11"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Disease:
    """A notifiable disease: key, class (A 甲, B 乙, C 丙), names, ICD-10 prefixes, default detector
    (`threshold` = every case is a signal; `ears` / `cidars` = statistical), and how long a resident's
    repeated reports of it still belong to one case (days)."""

    key: str
    klass: str
    name_zh: str
    name_en: str
    icd10: tuple[str, ...]
    detector: str = "ears"
    episode_days: int = 30


DISEASES: tuple[Disease, ...] = (
    Disease("plague", "A", "鼠疫", "Plague", ("A20",), "threshold"),
    Disease("cholera", "A", "霍乱", "Cholera", ("A00",), "threshold"),
    Disease("covid19", "B", "新型冠状病毒感染", "COVID-19", ("U07.1", "U07.2")),
    Disease("sars", "B", "传染性非典型肺炎", "SARS", ("U04",), "threshold"),
    Disease("hiv", "B", "艾滋病", "HIV/AIDS", ("B20", "B21", "B22", "B23", "B24", "Z21"), episode_days=36500),
    Disease(
        "hepatitis",
        "B",
        "病毒性肝炎",
        "Viral hepatitis",
        ("B15", "B16", "B17", "B18", "B19"),
        episode_days=365,
    ),
    Disease("polio", "B", "脊髓灰质炎", "Poliomyelitis", ("A80",), "threshold"),
    Disease("avian_flu", "B", "人感染高致病性禽流感", "Human avian influenza", ("J09",), "threshold"),
    Disease("measles", "B", "麻疹", "Measles", ("B05",)),
    Disease("hfrs", "B", "流行性出血热", "Haemorrhagic fever with renal syndrome", ("A98.5",)),
    Disease("rabies", "B", "狂犬病", "Rabies", ("A82",), "threshold"),
    Disease("jev", "B", "流行性乙型脑炎", "Japanese encephalitis", ("A83.0",)),
    Disease("dengue", "B", "登革热", "Dengue", ("A90", "A91", "A97")),
    Disease("anthrax", "B", "炭疽", "Anthrax", ("A22",), "threshold"),
    Disease("dysentery", "B", "细菌性和阿米巴性痢疾", "Bacillary and amoebic dysentery", ("A03", "A06.0")),
    Disease("tuberculosis", "B", "肺结核", "Pulmonary tuberculosis", ("A15", "A16"), episode_days=365),
    Disease("typhoid", "B", "伤寒和副伤寒", "Typhoid and paratyphoid", ("A01",)),
    Disease("meningococcal", "B", "流行性脑脊髓膜炎", "Meningococcal meningitis", ("A39",), "threshold"),
    Disease("pertussis", "B", "百日咳", "Pertussis", ("A37",)),
    Disease("diphtheria", "B", "白喉", "Diphtheria", ("A36",), "threshold"),
    Disease("neonatal_tetanus", "B", "新生儿破伤风", "Neonatal tetanus", ("A33",)),
    Disease("scarlet_fever", "B", "猩红热", "Scarlet fever", ("A38",)),
    Disease("brucellosis", "B", "布鲁氏菌病", "Brucellosis", ("A23",)),
    Disease("gonorrhoea", "B", "淋病", "Gonorrhoea", ("A54",)),
    Disease("syphilis", "B", "梅毒", "Syphilis", ("A50", "A51", "A52", "A53"), episode_days=365),
    Disease("leptospirosis", "B", "钩端螺旋体病", "Leptospirosis", ("A27",)),
    Disease("schistosomiasis", "B", "血吸虫病", "Schistosomiasis", ("B65",)),
    Disease("malaria", "B", "疟疾", "Malaria", ("B50", "B51", "B52", "B53", "B54")),
    Disease("h7n9", "B", "人感染H7N9禽流感", "Human infection with H7N9", ("J09.X1",), "threshold"),
    Disease("mpox", "B", "猴痘", "Mpox", ("B04",), "threshold"),
    Disease("influenza", "C", "流行性感冒", "Influenza", ("J10", "J11"), "ears", 14),
    Disease("mumps", "C", "流行性腮腺炎", "Mumps", ("B26",)),
    Disease("rubella", "C", "风疹", "Rubella", ("B06",)),
    Disease("ahc", "C", "急性出血性结膜炎", "Acute haemorrhagic conjunctivitis", ("B30.3",)),
    Disease("leprosy", "C", "麻风病", "Leprosy", ("A30",), "threshold", 36500),
    Disease("typhus", "C", "流行性和地方性斑疹伤寒", "Typhus", ("A75",)),
    Disease("kala_azar", "C", "黑热病", "Visceral leishmaniasis", ("B55.0",)),
    Disease("echinococcosis", "C", "包虫病", "Echinococcosis", ("B67",), episode_days=365),
    Disease("filariasis", "C", "丝虫病", "Filariasis", ("B74",)),
    Disease(
        "infectious_diarrhoea",
        "C",
        "其它感染性腹泻病",
        "Other infectious diarrhoea",
        ("A02", "A04", "A05", "A07", "A08", "A09"),
        "ears",
        14,
    ),
    Disease("hfmd", "C", "手足口病", "Hand, foot and mouth disease", ("B08.4",), "ears", 14),
)

SYNDROMES: Mapping[str, tuple[str, ...]] = {
    "fever": ("R50", "A01", "A75", "A90", "A91", "B50", "B51", "B52", "B53", "B54", "J10", "J11"),
    "diarrhoea": ("A00", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "K52.9", "R19.7"),
    "rash": ("R21", "B01", "B04", "B05", "B06", "B08.4", "B09", "A38"),
    "respiratory": ("J00", "J01", "J02", "J03", "J04", "J05", "J06", "J09", "J10", "J11", "J12", "J13", "J14",
                    "J15", "J16", "J17", "J18", "J20", "J21", "J22", "R05", "U07.1", "U04", "A37"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Syndrome:
    """A syndrome counted for syndromic surveillance: key, names, and the days within which a
    resident's repeated reports of it are one episode."""

    key: str
    name_zh: str
    name_en: str
    episode_days: int = 7


SYNDROME_LIST: tuple[Syndrome, ...] = (
    Syndrome("fever", "发热症候群", "Fever"),
    Syndrome("diarrhoea", "腹泻症候群", "Diarrhoea"),
    Syndrome("rash", "发疹症候群", "Rash"),
    Syndrome("respiratory", "呼吸道症候群", "Respiratory"),
)
# Diseases and syndromes share the key space of cases and counts: their keys differ (tested).
SYNDROME_BY_KEY: Mapping[str, Syndrome] = {s.key: s for s in SYNDROME_LIST}
BY_KEY: Mapping[str, Disease] = {d.key: d for d in DISEASES}
_PREFIXES: tuple[tuple[str, Disease], ...] = tuple(
    sorted(((p, d) for d in DISEASES for p in d.icd10), key=lambda item: -len(item[0]))
)


def disease_of(icd10: str) -> Disease | None:
    """The notifiable disease an ICD-10 code belongs to (longest matching prefix), if any."""
    code = icd10.strip().upper()
    for prefix, disease in _PREFIXES:
        if code.startswith(prefix):
            return disease
    return None


def syndromes_of(icd10: str) -> tuple[str, ...]:
    """The syndromes an ICD-10 code counts towards."""
    code = icd10.strip().upper()
    return tuple(name for name, prefixes in SYNDROMES.items() if any(code.startswith(p) for p in prefixes))


def icd10_codes(condition: Mapping[str, object]) -> list[str]:
    """ICD-10 codes of a FHIR Condition's `code` (any ICD-10 system, or untyped codings)."""
    code = condition.get("code")
    codings: Iterable[object] = code.get("coding", []) if isinstance(code, dict) else []
    out = []
    for coding in codings:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            system = coding.get("system")
            if system is None or system in ICD10_SYSTEMS:
                out.append(str(coding["code"]))
    return out


def episode_days(key: str) -> int:
    """How many days a resident's reports of a disease or syndrome still belong to one case."""
    if key in BY_KEY:
        return BY_KEY[key].episode_days
    if key in SYNDROME_BY_KEY:
        return SYNDROME_BY_KEY[key].episode_days
    return 30
