"""What gets recorded during a visit: vitals, laboratory panels, diagnoses and prescriptions."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from healthbrain.simulation import codes
from healthbrain.simulation.care import Health, Visit
from healthbrain.simulation.chart import Chart, Clock
from healthbrain.simulation.codes import DRUGS, Diagnosis, Drug

Regimen = Callable[[random.Random, int], tuple[str, ...]]

FEBRILE = frozenset({"J06.9", "J20.9", "J18.9", "J11.1", "B08.4"})
CHRONIC = frozenset({"I10", "E11.9", "E78.5", "J44.9", "I25.1"})


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


# Drug codes prescribed per diagnosis, given the resident's age. Chronic regimens are drawn once
# per resident and renewed at every follow-up, as in real refills.
REGIMENS: dict[str, Regimen] = {
    "I10": lambda rng, age: tuple(rng.sample(("HB0101", "HB0102", "HB0103", "HB0104", "HB0105", "HB0106"),
                                             1 if rng.random() < 0.6 else 2)),
    "E11.9": lambda rng, age: ("HB0201",) + ((_pick(rng, "HB0202", "HB0203"),) if rng.random() < 0.35 else ())
    + (("HB0204",) if rng.random() < 0.1 else ()),
    "E78.5": lambda rng, age: ("HB0301",),
    "I25.1": lambda rng, age: ("HB0302", "HB0301") + (("HB0304",) if rng.random() < 0.5 else ()),
    "J44.9": lambda rng, age: (_pick(rng, "HB0601", "HB0602"),),
    "J06.9": lambda rng, age: ("HB0803", "HB0502") if age < 12 else tuple(
        rng.sample(("HB0501", "HB0801", "HB0802"), rng.randint(1, 2))),
    "J20.9": lambda rng, age: ("HB0503",) + (("HB0401",) if rng.random() < 0.5 else ()),
    "J18.9": lambda rng, age: (("HB0402",) if age < 14 else (_pick(rng, "HB0403", "HB0404"),)) + ("HB0503",),
    "J11.1": lambda rng, age: ("HB0405", "HB0502") + (("HB0801",) if rng.random() < 0.5 else ()),
    "B08.4": lambda rng, age: (_pick(rng, "HB0803", "HB0502"),),
    "A09": lambda rng, age: ("HB0504",) + (("HB0804",) if rng.random() < 0.4 else ()),
    "A16.2": lambda rng, age: ("HB0703",),
    "K29.7": lambda rng, age: ("HB0505",),
    "M54.5": lambda rng, age: ("HB0506",),
    "G47.0": lambda rng, age: ("HB0507",),
    "N39.0": lambda rng, age: ("HB0404",),
    "K35.8": lambda rng, age: ("HB0403",),
    "I21.9": lambda rng, age: ("HB0302", "HB0303", "HB0301"),
    "I63.9": lambda rng, age: ("HB0302", "HB0301"),
    "Z34.9": lambda rng, age: ("HB0701",),
    "Z00.1": lambda rng, age: ("HB0702",) if age == 0 else (),
}  # fmt: skip


class VisitRecorder:
    """Turns one planned visit into chart entries; holds one resident's state across their visits."""

    def __init__(self, clock: Clock, rng: random.Random, health: Health, female: bool) -> None:
        self.clock = clock
        self.rng = rng
        self.health = health
        self.female = female
        self.regimens: dict[str, tuple[Drug, ...]] = {}
        # (institution id, ICD-10 code) -> Condition id of a problem-list entry already recorded there.
        self.problems: dict[tuple[str, str], str] = {}

    def record(self, chart: Chart, visit: Visit) -> str | None:
        """Write the visit; return the Condition id when the visit is an outbreak case."""
        rng, inst, clock = self.rng, chart.inst, self.clock
        doctor = inst.doctor(rng, visit.department, "02", "03")
        nurse = rng.choice(inst.nurses)
        enc = chart.encounter(
            visit.setting, visit.day, visit.minute, visit.department, doctor, visit.dx, visit.stay_days
        )
        self._vitals(chart, enc, visit, nurse)
        when = clock.at(visit.day, visit.minute + 25)
        issued = clock.at(visit.day, visit.minute + 120)
        self._labs(chart, enc, visit, when, issued, inst.doctor(rng, "30"))
        start = clock.at(visit.day, visit.minute)
        reasons = self._diagnoses(chart, enc, visit, doctor, start)
        for dx, cid in reasons:
            for drug in self._drugs(dx):
                chart.prescription(enc, drug, doctor, start, cid, active=dx.code in CHRONIC)
        return reasons[0][1] if visit.outbreak and reasons else None

    def _drugs(self, dx: Diagnosis) -> tuple[Drug, ...]:
        drugs = self.regimens.get(dx.code)
        if drugs is None:
            regimen = REGIMENS.get(dx.code)
            drugs = tuple(DRUGS[c] for c in regimen(self.rng, self.health.age)) if regimen else ()
            if dx.code in CHRONIC:
                self.regimens[dx.code] = drugs
        return drugs

    def _vitals(self, chart: Chart, enc: dict[str, Any], visit: Visit, nurse: str) -> None:
        rng, h = self.rng, self.health
        when = self.clock.at(visit.day, visit.minute + 5)
        fever = visit.dx is not None and visit.dx.code in FEBRILE and visit.kind == "acute"
        chart.vital(
            enc, when, nurse, codes.BODY_TEMP, rng.gauss(38.5, 0.5) if fever else rng.gauss(36.6, 0.25)
        )
        chart.vital(enc, when, nurse, codes.HEART_RATE, h.heart_rate + (14 if fever else 0) + rng.gauss(0, 5))
        if h.age >= 14:
            systolic = h.systolic + rng.gauss(0, 8)
            chart.blood_pressure(enc, when, nurse, systolic, h.diastolic + rng.gauss(0, 5))
        if visit.kind in ("elderly_check", "child_check", "prenatal", "delivery") or (
            visit.kind == "followup" and rng.random() < 0.35
        ):
            weight = h.weight * rng.gauss(1, 0.015)
            chart.vital(enc, when, nurse, codes.BODY_HEIGHT, h.height)
            chart.vital(enc, when, nurse, codes.BODY_WEIGHT, weight)
            if h.age >= 18:
                chart.vital(enc, when, nurse, codes.BMI, weight / (h.height / 100) ** 2)

    def _labs(
        self, chart: Chart, enc: dict[str, Any], visit: Visit, when: str, issued: str, tech: str
    ) -> None:
        rng, h = self.rng, self.health
        kind, code = visit.kind, visit.dx.code if visit.dx else ""
        diabetic = codes.DIABETES in h.chronic
        panels: list[str] = []
        if kind == "followup":
            if diabetic:
                panels.append("glucose")
                if rng.random() < 0.5:
                    panels.append("hba1c")
            if rng.random() < 0.25:
                panels += ["renal", "lipid"]
        elif kind == "elderly_check":
            panels += ["cbc", "renal", "liver", "lipid", "glucose"]
        elif kind == "child_check" and h.age < 3 and rng.random() < 0.5:
            panels.append("hemoglobin")
        elif kind == "prenatal" and rng.random() < 0.5:
            panels += ["hemoglobin", "glucose"]
        elif kind == "delivery" or visit.setting == "EMER":
            panels += ["cbc", "glucose"]
        elif kind == "specialist" and code == "I25.1" and rng.random() < 0.5:
            panels.append("lipid")
        elif code == "J18.9" or (code in FEBRILE and not chart.inst.is_primary_care and rng.random() < 0.4):
            panels += ["cbc", "crp"]
        if visit.setting == "IMP":
            panels += ["renal", "liver"] + ([] if "cbc" in panels else ["cbc"])
            if code in ("I21.9", "I63.9"):
                panels.append("lipid")
        for panel in panels:
            self._panel(chart, enc, panel, when, issued, tech, bacterial=code in ("J18.9", "N39.0", "K35.8"))

    def _panel(
        self,
        chart: Chart,
        enc: dict[str, Any],
        panel: str,
        when: str,
        issued: str,
        tech: str,
        *,
        bacterial: bool,
    ) -> None:
        rng, h, female = self.rng, self.health, self.female
        lab = chart.lab
        if panel == "cbc":
            wbc = rng.gauss(13.5, 3) if bacterial else rng.gauss(6.3, 1.6)
            hgb = rng.gauss(132, 12) if female else rng.gauss(148, 12)
            results = [
                lab(enc, when, issued, tech, codes.WBC, max(wbc, 1.5)),
                lab(enc, when, issued, tech, codes.HEMOGLOBIN_F if female else codes.HEMOGLOBIN_M, hgb),
                lab(enc, when, issued, tech, codes.PLATELETS, rng.gauss(230, 55)),
            ]
            chart.report(enc, when, issued, codes.PANEL_CBC, results)
        elif panel == "renal":
            results = [
                lab(enc, when, issued, tech, codes.CREATININE_F if female else codes.CREATININE_M,
                    h.creatinine * rng.gauss(1, 0.06)),
                lab(enc, when, issued, tech, codes.POTASSIUM, rng.gauss(4.2, 0.35)),
                lab(enc, when, issued, tech, codes.SODIUM, rng.gauss(141, 2.5)),
            ]  # fmt: skip
            chart.report(enc, when, issued, codes.PANEL_RENAL, results)
        elif panel == "liver":
            alt = rng.lognormvariate(3.1, 0.45)
            results = [
                lab(enc, when, issued, tech, codes.ALT, alt),
                lab(enc, when, issued, tech, codes.AST, alt * rng.uniform(0.8, 1.2) + 3),
            ]
            chart.report(enc, when, issued, codes.PANEL_LIVER, results)
        elif panel == "lipid":
            tc = h.cholesterol * rng.gauss(1, 0.05)
            results = [
                lab(enc, when, issued, tech, codes.CHOLESTEROL, tc),
                lab(enc, when, issued, tech, codes.TRIGLYCERIDES, rng.lognormvariate(0.25, 0.4)),
                lab(enc, when, issued, tech, codes.LDL, tc * rng.uniform(0.55, 0.65)),
            ]
            chart.report(enc, when, issued, codes.PANEL_LIPID, results)
        elif panel == "glucose":
            lab(enc, when, issued, tech, codes.GLUCOSE, max(h.glucose + rng.gauss(0, 0.8), 2.8))
        elif panel == "hba1c":
            lab(enc, when, issued, tech, codes.HBA1C, h.hba1c + rng.gauss(0, 0.3))
        elif panel == "hemoglobin":
            q = codes.HEMOGLOBIN_CHILD if h.age < 14 else codes.HEMOGLOBIN_PREGNANT
            lab(enc, when, issued, tech, q, rng.gauss(122, 11))
        elif panel == "crp":
            lab(enc, when, issued, tech, codes.CRP, rng.gauss(48, 20) if bacterial else rng.uniform(0.5, 12))

    def _diagnoses(
        self, chart: Chart, enc: dict[str, Any], visit: Visit, doctor: str, start: str
    ) -> list[tuple[Diagnosis, str]]:
        """Conditions this visit records, with the ids prescriptions cite as their reason."""
        dx, h = visit.dx, self.health
        if dx is None:
            return []
        if visit.kind == "followup":
            # A follow-up reviews every managed chronic condition of the health record.
            managed = [d for d in h.chronic if d.code in ("I10", "E11.9", "E78.5")]
            return [(d, self._problem(chart, enc, d, doctor, start)) for d in managed]
        if dx.code in CHRONIC:
            return [(dx, self._problem(chart, enc, dx, doctor, start))]
        resolved = None
        if dx.code not in ("Z34.9", "A16.2"):
            resolved = self.clock.dates[visit.day + visit.stay_days + (0 if dx.code.startswith("Z") else 7)]
        return [(dx, chart.condition(enc, dx, doctor, start, abated=resolved))]

    def _problem(self, chart: Chart, enc: dict[str, Any], dx: Diagnosis, doctor: str, start: str) -> str:
        key = (chart.inst.id, dx.code)
        cid = self.problems.get(key)
        if cid is None:
            onset = str(self.health.onset_years[self.health.chronic.index(dx)])
            cid = chart.condition(enc, dx, doctor, start, chronic_onset=onset)
            self.problems[key] = cid
        else:
            chart.link_diagnosis(enc, cid)
        return cid
