"""The simulator's injected outbreaks (ground truth), and the service finding them over a simulated year
with the sensitivity, specificity and delay CIDARS was evaluated by."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from healthbrain.simulation import Region, RegionConfig, simulate_region
from healthbrain.surveillance import disease_of
from healthbrain.surveillance.labdef import is_positive, lab_test_of, lab_tests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from surveillance_sim import evaluate_region  # the harness bench/surveillance.py runs too


@pytest.fixture(scope="module")
def region() -> Region:
    return simulate_region(RegionConfig(patients=2500, seed=5))


def _by_id(region: Region, rtype: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in region.resources() if r["resourceType"] == rtype}


def test_several_outbreaks_of_known_size_and_timing_are_injected(region: Region) -> None:
    extra = region.ground_truth.extra_outbreaks
    diseases = [disease_of(o.disease).key for o in extra]  # type: ignore[union-attr]
    assert sorted(diseases) == ["hfmd", "hfmd", "infectious_diarrhoea", "measles", "scarlet_fever"]
    assert all(o.start.year == 2025 and o.start <= o.end <= date(2025, 12, 31) for o in extra)
    measles = next(o for o in extra if o.disease == "B05.9")
    assert 1 <= len(measles.conditions) <= 6  # a few cases
    conditions = _by_id(region, "Condition")
    for ob in extra:
        assert ob.conditions, ob.disease
        for ref in ob.conditions:
            c = conditions[ref.split("/")[1]]
            assert ob.start <= date.fromisoformat(c["onsetDateTime"][:10]) <= ob.end
            assert c["code"]["coding"][0]["code"] in (ob.disease, "K52.9")
    hfmd = [o for o in extra if o.disease == "B08.4"]
    assert hfmd[0].start.month in (5, 6) and hfmd[1].start.month in (9, 10)  # early summer and autumn
    # the ground-truth file carries them
    doc = region.ground_truth.to_json()
    assert [o["cases"] for o in doc["extraOutbreaks"]] == [len(o.conditions) for o in extra]


def test_some_cases_are_found_by_their_pathogen_test_only(region: Region) -> None:
    noro = next(o for o in region.ground_truth.extra_outbreaks if o.disease == "A08.1")
    conditions = _by_id(region, "Condition")
    tests = lab_tests()
    labs = [r for r in region.resources() if r["resourceType"] == "Observation" and lab_test_of(r, tests)]
    assert labs and all(is_positive(o) for o in labs)
    by_encounter = {o["encounter"]["reference"] for o in labs}
    cases = [conditions[ref.split("/")[1]] for ref in noro.conditions]
    coded_otherwise = [c for c in cases if c["code"]["coding"][0]["code"] == "K52.9"]
    assert all(c["encounter"]["reference"] in by_encounter for c in coded_otherwise)
    assert len(coded_otherwise) < len(cases)


def test_the_injected_outbreaks_are_deterministic_per_seed() -> None:
    a = simulate_region(RegionConfig(patients=400, seed=9)).ground_truth.extra_outbreaks
    b = simulate_region(RegionConfig(patients=400, seed=9)).ground_truth.extra_outbreaks
    assert [o.to_json() for o in a] == [o.to_json() for o in b]


@pytest.mark.slow
def test_the_year_is_detected_like_cidars() -> None:
    """Every outbreak of a 4,000-resident region, detected end to end; CIDARS reports 92.7 %
    sensitivity, 95.0 % specificity and 2.1 days for HFMD."""
    result = evaluate_region(4000, 7, replicates=199)
    ev = result["all_methods"]
    assert ev["sensitivity"] >= 5 / 6 and ev["specificity"] >= 0.95
    for o in ev["outbreaks"]:
        if o["detected"]:
            assert 0 <= o["delay_days"] <= o["days"]  # found while it was still going on
    assert ev["median_delay_days"] <= 7
    assert result["by_method"]["space_time_scan"]["sensitivity"] > 0  # the scan finds some too
