"""Early warning scores against the RCP NEWS2 chart, Sepsis-3 qSOFA, Subbe's MEWS and the Brighton PEWS."""

from __future__ import annotations

import csv
import re
from dataclasses import replace

import pytest
from cdsdata import CDS_DATA

from healthbrain.cds.ews import VitalSet, score_mews, score_news2, score_pews, score_qsofa, score_vitals
from healthbrain.cds.kb import KnowledgeBase

NORMAL = VitalSet(
    respiratory_rate=16,
    spo2=97,
    on_oxygen=False,
    systolic_bp=125,
    pulse=72,
    consciousness="A",
    temperature=36.8,
)


def _published_news2_vectors() -> list[dict[str, str]]:
    with (CDS_DATA / "ews_vectors" / "external_test_vectors.csv").open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row["calculator"].startswith("NEWS2")]


def _vitals_from_text(inputs: str) -> VitalSet:
    def num(pattern: str) -> float:
        match = re.search(pattern, inputs)
        assert match, pattern
        return float(match.group(1))

    level = re.search(r"ACVPU=(\w+)", inputs)
    return VitalSet(
        respiratory_rate=num(r"RR=(\d+)"),
        spo2=num(r"SpO2=(\d+)"),
        on_oxygen="room air" not in inputs,
        temperature=num(r"temp=([\d.]+)"),
        systolic_bp=num(r"SBP=(\d+)"),
        pulse=num(r"HR=(\d+)"),
        consciousness=(level.group(1)[0].upper() if level else "A"),
        spo2_scale=2 if "scale 2" in inputs else 1,
    )


def test_published_news2_example_scores_5_not_the_published_6(kb: KnowledgeBase) -> None:
    rows = _published_news2_vectors()
    assert rows
    for row in rows:
        result = score_news2(kb.ews, _vitals_from_text(row["inputs"]))
        assert result is not None
        expected = int(re.search(r"total=(\d+)", row["independent_recomputation"]).group(1))  # type: ignore[union-attr]
        published = int(re.search(r"total=(\d+)", row["published_output"]).group(1))  # type: ignore[union-attr]
        assert result.total == expected == 5
        assert result.total != published
        assert dict(result.components)["temperature"] == 0  # 37.5 C is in the 36.1-38.0 band
        assert result.level == "medium"  # aggregate 5-6: urgent response


def test_news2_all_normal_scores_zero(kb: KnowledgeBase) -> None:
    result = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=12,
            spo2=96,
            on_oxygen=False,
            systolic_bp=111,
            pulse=51,
            consciousness="A",
            temperature=36.1,
        ),
    )
    assert result is not None and result.total == 0 and result.level == "low" and result.priority is None


def test_news2_every_parameter_at_its_worst(kb: KnowledgeBase) -> None:
    result = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=8,
            spo2=91,
            on_oxygen=True,
            systolic_bp=90,
            pulse=131,
            consciousness="V",
            temperature=35.0,
        ),
    )
    assert result is not None
    assert dict(result.components) == {
        "respiratory_rate": 3,
        "spo2": 3,
        "air_or_oxygen": 2,
        "systolic_bp": 3,
        "pulse": 3,
        "consciousness": 3,
        "temperature": 3,
    }
    assert result.total == 20 and result.level == "high" and result.priority == "critical"


def test_news2_single_red_parameter_triggers_low_medium(kb: KnowledgeBase) -> None:
    result = score_news2(kb.ews, replace(NORMAL, respiratory_rate=25))
    assert result is not None and result.total == 3 and result.level == "low-medium"


def test_news2_thresholds_5_and_7(kb: KnowledgeBase) -> None:
    five = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=22,
            spo2=94,
            on_oxygen=False,
            systolic_bp=105,
            pulse=95,
            consciousness="A",
            temperature=36.8,
        ),
    )  # 2+1+0+1+1+0+0
    seven = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=22,
            spo2=94,
            on_oxygen=True,
            systolic_bp=105,
            pulse=95,
            consciousness="A",
            temperature=36.8,
        ),
    )  # + oxygen 2
    assert five is not None and (five.total, five.level) == (5, "medium")
    assert seven is not None and (seven.total, seven.level) == (7, "high")


def test_news2_spo2_scale_2(kb: KnowledgeBase) -> None:
    on_oxygen = VitalSet(
        respiratory_rate=16,
        spo2=97,
        on_oxygen=True,
        systolic_bp=125,
        pulse=72,
        consciousness="A",
        temperature=36.8,
        spo2_scale=2,
    )
    result = score_news2(kb.ews, on_oxygen)
    assert result is not None and dict(result.components)["spo2"] == 3  # >= 97 % on oxygen scores 3
    target_range = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=16,
            spo2=88,
            on_oxygen=False,
            systolic_bp=125,
            pulse=72,
            consciousness="A",
            temperature=36.8,
            spo2_scale=2,
        ),
    )
    scale_one = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=16,
            spo2=88,
            on_oxygen=False,
            systolic_bp=125,
            pulse=72,
            consciousness="A",
            temperature=36.8,
        ),
    )
    assert target_range is not None and dict(target_range.components)["spo2"] == 0
    assert scale_one is not None and dict(scale_one.components)["spo2"] == 3


def test_news2_rounds_like_the_chart(kb: KnowledgeBase) -> None:
    result = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=16,
            spo2=97,
            on_oxygen=False,
            systolic_bp=125,
            pulse=72,
            consciousness="A",
            temperature=38.05,
        ),
    )
    assert result is not None and dict(result.components)["temperature"] == 1  # read as 38.1


def test_news2_needs_a_complete_set_and_states_assumptions(kb: KnowledgeBase) -> None:
    assert score_news2(kb.ews, VitalSet(respiratory_rate=16, spo2=97, pulse=72)) is None
    assumed = score_news2(
        kb.ews, VitalSet(respiratory_rate=16, spo2=97, systolic_bp=125, pulse=72, gcs=15, temperature=36.8)
    )
    assert assumed is not None and set(assumed.assumptions) == {"room-air-assumed", "consciousness-from-gcs"}
    strict = score_news2(
        kb.ews,
        VitalSet(
            respiratory_rate=16, spo2=97, systolic_bp=125, pulse=72, consciousness="A", temperature=36.8
        ),
        assume_air=False,
    )
    assert strict is None


def test_qsofa(kb: KnowledgeBase) -> None:
    two = score_qsofa(kb.ews, VitalSet(respiratory_rate=22, systolic_bp=100, consciousness="A"))
    one = score_qsofa(kb.ews, VitalSet(respiratory_rate=21, systolic_bp=101, gcs=14))
    assert two is not None and two.total == 2 and two.level == "high"
    assert one is not None and one.total == 1 and one.priority is None


def test_mews_subbe_table(kb: KnowledgeBase) -> None:
    sick = score_mews(
        kb.ews, VitalSet(systolic_bp=75, pulse=115, respiratory_rate=31, temperature=38.6, consciousness="P")
    )
    assert sick is not None
    assert dict(sick.components) == {
        "systolic_bp": 2,
        "pulse": 2,
        "respiratory_rate": 3,
        "temperature": 2,
        "consciousness": 2,
    }
    assert sick.total == 11 and sick.level == "high"
    well = score_mews(kb.ews, NORMAL)
    assert well is not None and well.total == 1  # RR 16 scores 1 in MEWS (15-20)


def test_brighton_pews_for_a_three_year_old(kb: KnowledgeBase) -> None:
    base = {"pulse": 165.0, "respiratory_rate": 42.0, "consciousness": "A"}  # normal 95-140 and 25-30
    result = score_pews(kb.ews, VitalSet(**base), age_years=3)  # type: ignore[arg-type]
    assert result is not None
    assert dict(result.components) == {"behaviour": 0, "cardiovascular": 2, "respiratory": 1}
    assert result.level == "low"
    oxygen = score_pews(kb.ews, VitalSet(**base, oxygen_flow_lpm=6), age_years=3)  # type: ignore[arg-type]
    assert oxygen is not None and oxygen.total == 4 and oxygen.level == "medium"
    refill = score_pews(kb.ews, VitalSet(**base, capillary_refill_s=5), age_years=3)  # type: ignore[arg-type]
    assert refill is not None and refill.level == "high"  # a component score of 3


@pytest.mark.parametrize(
    ("age", "pregnant", "scores"),
    [
        (45, False, {"news2", "mews", "qsofa"}),
        (45, True, {"mews", "qsofa"}),
        (10, False, {"pews"}),
        (17, False, {"news2", "mews"}),
    ],
)
def test_scores_by_age_and_pregnancy(kb: KnowledgeBase, age: float, pregnant: bool, scores: set[str]) -> None:
    got = score_vitals(kb.ews, NORMAL, age, pregnant=pregnant)
    assert {r.score for r in got} == scores
