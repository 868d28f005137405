"""Who the residents are: names, 居民身份证 numbers (GB 11643), mobile numbers and home addresses."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Any

from healthbrain.simulation.names import GIVEN_CHARS, GIVEN_NAMES_COMMON, SURNAMES
from healthbrain.simulation.places import STREET_NAMES

# GB 11643-1999: weights of the first 17 digits and the check character for (sum mod 11).
ID_CARD_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK_CHARS = "10X98765432"

# Mobile number segments (号段) in use by the three carriers and the virtual operators: every
# number is 1[3-9]x followed by eight digits.
MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "170", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "193", "195", "198",
    "199",
)  # fmt: skip

# Age pyramid in five-year bands (per mille of the population, rounded from the 2020 census):
# the 1962-1975 and 1985-1990 booms and the shrinking cohorts after 2017 are visible.
AGE_BANDS: tuple[float, ...] = (
    52, 64, 60, 53, 53, 65, 89, 70, 66, 82, 86, 72, 52, 53, 35, 22, 14, 7, 3, 1,
)  # fmt: skip


def id_card_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a 居民身份证 number (may be 'X')."""
    total = sum(int(c) * w for c, w in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK_CHARS[total % 11]


def make_id_card(area_code: str, birth: date, sequence: int) -> str:
    """An 18-character 身份证 number; `sequence` (0-999) must be odd for men and even for women."""
    first17 = f"{area_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_card_check_char(first17)


def is_valid_id_card(number: str) -> bool:
    """Whether `number` is well formed: 17 digits, a real birth date and the right check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return number[17] == id_card_check_char(number[:17])


def id_card_sex(number: str) -> str:
    """FHIR gender encoded in a 身份证 number: the 17th digit is odd for men, even for women."""
    return "male" if int(number[16]) % 2 else "female"


def id_card_birth_date(number: str) -> date:
    """The birth date encoded in digits 7-14 of a 身份证 number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


class WeightedChoice:
    """Fast repeated weighted draws (bisect over cumulative weights) from a fixed table."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, table: tuple[tuple[str, float], ...]) -> None:
        self._items = tuple(item for item, _ in table)
        self._cumulative = tuple(accumulate(weight for _, weight in table))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> str:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


_SURNAMES = WeightedChoice(SURNAMES)
_COMMON_GIVEN = {key: WeightedChoice(table) for key, table in GIVEN_NAMES_COMMON.items()}
_AGE_CUMULATIVE = tuple(accumulate(AGE_BANDS))


def draw_age(rng: random.Random) -> int:
    """An age in completed years following the regional age pyramid."""
    band = bisect.bisect_right(_AGE_CUMULATIVE, rng.random() * _AGE_CUMULATIVE[-1])
    return band * 5 + rng.randrange(5)


def _era(birth_year: int) -> str:
    if birth_year < 1965:
        return "old"
    return "mid" if birth_year < 1995 else "young"


def draw_name(rng: random.Random, sex: str, birth_year: int) -> tuple[str, str]:
    """(family, given): a fashionable whole given name a third of the time, else composed characters.

    Drawing whole names from a short weighted list is what makes 张伟 or 王芳 recur as they do in
    reality; composing the rest keeps the population from collapsing onto a few dozen names.
    """
    family = _SURNAMES.draw(rng)
    era = _era(birth_year)
    if rng.random() < 0.33:
        return family, _COMMON_GIVEN[(sex, era)].draw(rng)
    chars = GIVEN_CHARS[sex]
    single = {"old": 0.3, "mid": 0.3, "young": 0.1}[era]
    if rng.random() < single:
        return family, rng.choice(chars)
    return family, rng.choice(chars) + rng.choice(chars)


def draw_mobile(rng: random.Random) -> str:
    """An eleven-digit mainland mobile number."""
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(100_000_000):08d}"


@dataclass(frozen=True, slots=True)
class HomeAddress:
    """A residential address from province down to the house number."""

    state: str
    city: str
    district: str
    township: str  # 街道 or 乡镇
    community: str  # 社区 or 村
    street: str  # road, number and flat; empty for villages that only use the house number
    postal_code: str

    @property
    def text(self) -> str:
        return f"{self.state}{self.city}{self.district}{self.township}{self.community}{self.street}"

    def to_fhir(self) -> dict[str, Any]:
        """FHIR Address: `text` as a Chinese clerk writes it, plus the structured parts."""
        return {
            "use": "home",
            "type": "physical",
            "text": self.text,
            "line": [self.township, self.community, self.street],
            "city": self.city,
            "district": self.district,
            "state": self.state,
            "postalCode": self.postal_code,
            "country": "CN",
        }


def draw_street(rng: random.Random, urban: bool) -> str:
    """The part below the community: a flat in an urban compound or a house number in a village."""
    if urban:
        road, number = rng.choice(STREET_NAMES), rng.randint(1, 399)
        building, unit, floor, flat = (
            rng.randint(1, 30),
            rng.randint(1, 4),
            rng.randint(1, 18),
            rng.randint(1, 4),
        )
        return f"{road}{number}号{building}幢{unit}单元{floor}0{flat}室"
    return f"{rng.randint(1, 220)}号"
