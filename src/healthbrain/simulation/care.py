"""A resident's year of care: chronic conditions by age, acute illness by season, and where it is seen.

Rates are rounded from Chinese surveys (hypertension ~27% of adults, diabetes ~11%, COPD ~14% of
those over 40 in screening studies, fewer diagnosed) and tuned so that the average resident has two
to three encounters a year: enough for realistic series, small enough to stay fast.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import date
from itertools import accumulate

from healthbrain.simulation import codes
from healthbrain.simulation.codes import Diagnosis
from healthbrain.simulation.model import Outbreak, Person
from healthbrain.simulation.region import RegionLayout

# Relative incidence per month (January first).
WINTER = (3.0, 2.6, 1.6, 1.0, 0.7, 0.6, 0.7, 0.6, 0.7, 0.9, 1.4, 2.4)
FLU_SEASON = (4.0, 3.0, 1.2, 0.5, 0.3, 0.3, 0.7, 0.6, 0.2, 0.2, 0.6, 2.5)  # winter peak, small summer one
HFMD_SEASON = (0.2, 0.2, 0.6, 1.8, 3.0, 3.2, 1.8, 0.8, 1.0, 1.4, 0.9, 0.4)  # spring-summer and autumn peaks
SUMMER = (0.6, 0.6, 0.7, 0.8, 1.2, 1.6, 2.0, 2.0, 1.4, 1.0, 0.9, 0.8)
FLAT = (1.0,) * 12


@dataclass(frozen=True, slots=True)
class AcuteKind:
    """An acute illness: who gets it (ages, sex), how often relative to others, when and where."""

    dx: Diagnosis
    min_age: int
    max_age: int
    weight: float
    season: tuple[float, ...]
    place: str  # primary | hospital | tcm | severe
    sex: str | None = None


ACUTE: tuple[AcuteKind, ...] = (
    AcuteKind(codes.URTI, 0, 120, 40, WINTER, "primary"),
    AcuteKind(codes.BRONCHITIS, 0, 120, 8, WINTER, "primary"),
    AcuteKind(codes.PNEUMONIA, 0, 5, 6, WINTER, "hospital"),
    AcuteKind(codes.PNEUMONIA, 6, 64, 1, WINTER, "hospital"),
    AcuteKind(codes.PNEUMONIA, 65, 120, 6, WINTER, "hospital"),
    AcuteKind(codes.INFLUENZA, 0, 14, 12, FLU_SEASON, "primary"),
    AcuteKind(codes.INFLUENZA, 15, 120, 6, FLU_SEASON, "primary"),
    AcuteKind(codes.HFMD, 0, 5, 10, HFMD_SEASON, "primary"),
    AcuteKind(codes.HFMD, 6, 9, 2, HFMD_SEASON, "primary"),
    AcuteKind(codes.DIARRHOEA, 0, 120, 6, SUMMER, "primary"),
    AcuteKind(codes.TUBERCULOSIS, 15, 120, 0.08, FLAT, "hospital"),
    AcuteKind(codes.GASTRITIS, 15, 120, 6, FLAT, "primary"),
    AcuteKind(codes.LOW_BACK_PAIN, 25, 120, 5, FLAT, "tcm"),
    AcuteKind(codes.INSOMNIA, 30, 120, 3, FLAT, "tcm"),
    AcuteKind(codes.UTI, 15, 120, 3, FLAT, "primary", "female"),
    AcuteKind(codes.APPENDICITIS, 5, 70, 0.6, FLAT, "severe"),
    AcuteKind(codes.AMI, 45, 59, 0.2, WINTER, "severe"),
    AcuteKind(codes.AMI, 60, 120, 0.8, WINTER, "severe"),
    AcuteKind(codes.STROKE, 55, 120, 0.8, WINTER, "severe"),
)
_SEASON_CUMULATIVE = {k.season: tuple(accumulate(k.season)) for k in ACUTE}


@dataclass(frozen=True, slots=True)
class Visit:
    """One planned encounter: when (day of year, minute of day), where, why and in which setting."""

    day: int
    minute: int
    institution: str
    kind: str  # acute | followup | specialist | elderly_check | child_check | prenatal | delivery
    setting: str  # AMB | EMER | IMP
    department: str
    dx: Diagnosis | None
    stay_days: int = 0
    outbreak: bool = False


@dataclass(frozen=True, slots=True)
class Health:
    """The resident's chronic conditions and physiological baselines, stable across the year."""

    age: int
    chronic: tuple[Diagnosis, ...]
    onset_years: tuple[int, ...]
    height: float
    weight: float
    systolic: float
    diastolic: float
    heart_rate: float
    glucose: float
    hba1c: float
    creatinine: float
    cholesterol: float


def _rate(age: int, table: tuple[tuple[int, float], ...]) -> float:
    """The rate of the last band whose lower age bound is <= age."""
    rate = 0.0
    for lower, value in table:
        if age >= lower:
            rate = value
    return rate


_HTN = ((18, 0.04), (35, 0.10), (45, 0.22), (55, 0.35), (65, 0.48), (75, 0.55))
_DM = ((18, 0.015), (35, 0.04), (45, 0.09), (55, 0.14), (65, 0.18))
_LIPID = ((35, 0.06), (55, 0.10))
_COPD = ((40, 0.03), (60, 0.08), (70, 0.12))
_CHD = ((50, 0.03), (65, 0.08))


def _growth(rng: random.Random, age: int, male: bool) -> tuple[float, float]:
    """(height cm, weight kg): a coarse growth curve for children, a normal spread for adults."""
    if age < 18:
        height = 75 + 6.2 * age if age else rng.uniform(50, 75)
        height = min(height, 172 if male else 160) * rng.gauss(1, 0.04)
        bmi = rng.gauss(16.5 + 0.25 * age, 1.5)
    else:
        height = rng.gauss(169.5 if male else 158.5, 6)
        bmi = rng.gauss(23.5 + min(age, 60) * 0.02, 3)
    return height, max(bmi, 12.5) * (height / 100) ** 2


def draw_health(rng: random.Random, person: Person, year_start: date) -> Health:
    """Chronic conditions by age-specific prevalence, and baselines consistent with them."""
    age = person.age_on(year_start)
    male = person.gender == "male"
    chronic: list[Diagnosis] = []
    if rng.random() < _rate(age, _HTN):
        chronic.append(codes.HYPERTENSION)
    if rng.random() < _rate(age, _DM) * (1.5 if chronic else 1.0):
        chronic.append(codes.DIABETES)
    if rng.random() < _rate(age, _LIPID):
        chronic.append(codes.HYPERLIPIDEMIA)
    if rng.random() < _rate(age, _COPD) * (1.6 if male else 0.6):
        chronic.append(codes.COPD)
    if rng.random() < _rate(age, _CHD):
        chronic.append(codes.CHD)
    onset = tuple(year_start.year - 1 - rng.randrange(max(1, min(15, age - 17))) for _ in chronic)
    height, weight = _growth(rng, age, male)
    hypertensive = codes.HYPERTENSION in chronic
    diabetic = codes.DIABETES in chronic
    systolic = rng.gauss(146, 12) if hypertensive else min(rng.gauss(100 + 0.35 * min(age, 70), 9), 136)
    return Health(
        age=age,
        chronic=tuple(chronic),
        onset_years=onset,
        height=height,
        weight=weight,
        systolic=systolic if age >= 14 else rng.gauss(100, 7),
        diastolic=systolic * 0.6 + rng.gauss(0, 5),
        heart_rate=rng.gauss(76 if age >= 14 else 100 - 2 * age, 8),
        glucose=rng.gauss(7.8, 1.6) if diabetic else rng.gauss(5.0, 0.45),
        hba1c=rng.gauss(7.4, 1.0) if diabetic else rng.gauss(5.4, 0.3),
        creatinine=rng.gauss(80 if male else 60, 12) + (10 if age >= 65 else 0),
        cholesterol=rng.gauss(6.2, 0.8) if codes.HYPERLIPIDEMIA in chronic else rng.gauss(4.7, 0.7),
    )


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means of visit counts."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _episode_rate(age: int) -> float:
    return 3.0 if age < 6 else 1.6 if age < 15 else 0.8 if age < 45 else 1.0 if age < 65 else 1.4


def _minute(rng: random.Random) -> int:
    """Outpatient clinics run 08:00-11:30 and 14:00-17:00."""
    return rng.randint(480, 690) if rng.random() < 0.7 else rng.randint(840, 1020)


class Planner:
    """Plans each resident's visits for the year against the fixed region layout."""

    def __init__(self, layout: RegionLayout, year_start: date, year_days: int, outbreak: Outbreak) -> None:
        self.layout = layout
        self.year_start = year_start
        self.year_days = year_days
        self.outbreak = outbreak
        starts = [(date(year_start.year, m, 1) - year_start).days for m in range(1, 13)]
        self.month_starts = (*starts, year_days)

    def _day_in_month(self, rng: random.Random, season: tuple[float, ...]) -> int:
        cumulative = _SEASON_CUMULATIVE.get(season) or tuple(accumulate(season))
        month = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return rng.randrange(self.month_starts[month], self.month_starts[month + 1])

    def plan(self, rng: random.Random, person: Person, health: Health, in_outbreak_area: bool) -> list[Visit]:
        """All of a resident's visits, in time order."""
        visits: list[Visit] = []
        self._chronic(rng, person, health, visits)
        self._prevention(rng, person, health, visits)
        self._acute(rng, person, health, visits)
        if in_outbreak_area:
            self._outbreak(rng, person, health, visits)
        visits.sort(key=lambda v: (v.day, v.minute))
        return visits

    def _hospital(self, person: Person) -> str:
        return self.layout.county_hospital[self.layout.institutions[person.home_clinic].county.code]

    def _chronic(self, rng: random.Random, person: Person, health: Health, visits: list[Visit]) -> None:
        managed = [dx for dx in health.chronic if dx in (codes.HYPERTENSION, codes.DIABETES)]
        if managed:
            # 基本公共卫生服务: at least four follow-ups a year for hypertension and diabetes.
            for quarter in range(4):
                if rng.random() < 0.92:
                    day = quarter * (self.year_days // 4) + rng.randrange(self.year_days // 4)
                    visits.append(
                        Visit(day, _minute(rng), person.home_clinic, "followup", "AMB", "02", managed[0])
                    )
        for dx in health.chronic:
            if dx in (codes.COPD, codes.CHD):
                for _ in range(rng.randint(1, 3)):
                    visits.append(
                        Visit(rng.randrange(self.year_days), _minute(rng), self._hospital(person),
                              "specialist", "AMB", "03", dx)
                    )  # fmt: skip

    def _prevention(self, rng: random.Random, person: Person, health: Health, visits: list[Visit]) -> None:
        age, home = health.age, person.home_clinic
        if age >= 65 and rng.random() < 0.7:
            day = rng.randrange(self.year_days)
            visits.append(Visit(day, _minute(rng), home, "elderly_check", "AMB", "01", codes.HEALTH_CHECK))
        if age <= 6:
            checks = 4 if age == 0 else 2 if age < 3 else 1
            mch = self.layout.mch_hospital.get(self.layout.institutions[home].city.code)
            for n in range(checks):
                where, dept = (mch, "09") if mch and rng.random() < 0.35 else (home, "01")
                day = n * (self.year_days // checks) + rng.randrange(self.year_days // checks)
                visits.append(Visit(day, _minute(rng), where, "child_check", "AMB", dept, codes.CHILD_CHECK))
        if person.gender == "female" and 20 <= age <= 40 and rng.random() < 0.05:
            self._pregnancy(rng, person, visits)

    def _pregnancy(self, rng: random.Random, person: Person, visits: list[Visit]) -> None:
        mch = self.layout.mch_hospital.get(self.layout.institutions[person.home_clinic].city.code)
        where = mch if mch and rng.random() < 0.7 else self._hospital(person)
        delivery = rng.randrange(self.year_days + 200)  # may fall after the year ends
        for weeks in (12, 20, 28, 34, 38):
            day = delivery - (40 - weeks) * 7
            if 0 <= day < self.year_days:
                visits.append(Visit(day, _minute(rng), where, "prenatal", "AMB", "05", codes.PREGNANCY))
        if delivery < self.year_days:
            visits.append(Visit(delivery, rng.randrange(1440), where, "delivery", "IMP", "05", codes.DELIVERY,
                                stay_days=rng.randint(2, 4)))  # fmt: skip

    def _acute(self, rng: random.Random, person: Person, health: Health, visits: list[Visit]) -> None:
        age = health.age
        menu = [
            k for k in ACUTE if k.min_age <= age <= k.max_age and (k.sex is None or k.sex == person.gender)
        ]
        weights = [k.weight for k in menu]
        for _ in range(_poisson(rng, _episode_rate(age))):
            kind = rng.choices(menu, weights)[0]
            visits.extend(
                self._place(rng, person, health, kind.dx, kind.place, self._day_in_month(rng, kind.season))
            )

    def _place(
        self, rng: random.Random, person: Person, health: Health, dx: Diagnosis, place: str, day: int
    ) -> list[Visit]:
        """Where an acute illness is seen: primary care first, hospitals for the serious and the worried."""
        hospital = self._hospital(person)
        child = health.age < 14
        ward_dept = "07" if child else "03"
        if place == "severe":
            dept = "04" if dx is codes.APPENDICITIS else ward_dept
            minute = rng.randrange(1440)
            return [
                Visit(day, minute, hospital, "acute", "EMER", "20", dx),
                Visit(day, minute + 180, hospital, "acute", "IMP", dept, dx, stay_days=rng.randint(5, 14)),
            ]
        if place == "tcm":
            county = self.layout.institutions[person.home_clinic].county.code
            tcm = self.layout.tcm_hospital.get(county)
            if tcm and rng.random() < 0.7:
                return [Visit(day, _minute(rng), tcm, "acute", "AMB", "50", dx)]
            return [Visit(day, _minute(rng), person.home_clinic, "acute", "AMB", "02", dx)]
        if place == "hospital" or rng.random() < 0.35:
            if dx is codes.PNEUMONIA and (child or health.age >= 65) and rng.random() < 0.45:
                return [
                    Visit(
                        day,
                        _minute(rng),
                        hospital,
                        "acute",
                        "IMP",
                        ward_dept,
                        dx,
                        stay_days=rng.randint(4, 9),
                    )
                ]
            dept = "16" if dx in (codes.HFMD, codes.TUBERCULOSIS) else ward_dept
            return [Visit(day, _minute(rng), hospital, "acute", "AMB", dept, dx)]
        return [Visit(day, _minute(rng), person.home_clinic, "acute", "AMB", "02", dx)]

    def _outbreak(self, rng: random.Random, person: Person, health: Health, visits: list[Visit]) -> None:
        """A school influenza cluster: high attack rate among 6-18 year-olds, spill-over to others."""
        attack = 0.18 if 6 <= health.age <= 18 else 0.03
        if rng.random() >= attack:
            return
        ob = self.outbreak
        first = (ob.start - self.year_start).days
        span = (ob.end - ob.start).days + 1
        # Cases rise and fall over the window: a triangular draw peaks a third of the way in.
        day = first + min(span - 1, int(rng.triangular(0, span, span / 3)))
        where = person.home_clinic if rng.random() < 0.75 else self._hospital(person)
        dept = "02" if where == person.home_clinic else ("07" if health.age < 14 else "03")
        visits.append(
            Visit(day, _minute(rng), where, "acute", "AMB", dept, outbreak_diagnosis(ob), outbreak=True)
        )


_NOTIFIABLE = {d.code: d for d in (codes.INFLUENZA, codes.HFMD, codes.DIARRHOEA, codes.TUBERCULOSIS)}


def outbreak_diagnosis(outbreak: Outbreak) -> Diagnosis:
    """The Diagnosis an outbreak's cases are coded with."""
    return _NOTIFIABLE.get(outbreak.disease) or Diagnosis(outbreak.disease, outbreak.display, notifiable=True)
