"""The space-time scan over neighbouring counties: adjacency from the 省/市/县 hierarchy or a file,
zones, and the nightly scan raising cluster signals with their counties and p-value as evidence."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from healthbrain.core.context import system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import InvalidInput
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance import (
    SurveillanceService,
    adjacency_from_pairs,
    parse_pairs,
    same_city_adjacency,
)
from healthbrain.surveillance.adjacency import merge, zone_order
from healthbrain.surveillance.detectors import ScanOptions, scan_zones
from healthbrain.surveillance.reports import DIAGNOSIS, ReportPart
from healthbrain.surveillance.store import Report

QUZHOU = ("330802", "330803", "330822")
LISHUI = ("331102", "331122", "331123")
DAY = date(2025, 6, 30)


def test_counties_of_one_city_are_neighbours() -> None:
    adj = same_city_adjacency([*QUZHOU, *LISHUI, "unknown"])
    assert adj.neighbours["330802"] == {"330803", "330822"}
    assert adj.neighbours["331122"] == {"331102", "331123"}
    assert adj.neighbours["unknown"] == frozenset()


def test_an_adjacency_file_adds_neighbours_across_cities() -> None:
    pairs = parse_pairs("area,neighbour\n330803,331123\n")
    adj = merge(same_city_adjacency([*QUZHOU, *LISHUI]), adjacency_from_pairs({"330803", "331123"}, pairs))
    assert "331123" in adj.neighbours["330803"] and "330803" in adj.neighbours["331123"]
    with pytest.raises(InvalidInput) as info:
        parse_pairs("from,to\n1,2\n")
    assert info.value.code == "surveillance.bad_adjacency"


def test_zones_grow_by_steps_and_are_padded() -> None:
    adj = adjacency_from_pairs(["a", "b", "c", "d"], [("a", "b"), ("b", "c")])
    order = zone_order(adj, 3)
    index = adj.index()
    assert order[index["a"]].tolist() == [index["a"], index["b"], index["c"]]
    assert order[index["d"]].tolist() == [index["d"], -1, -1]  # an island is a zone of its own


def _background(rng: np.random.Generator, days: int = 56) -> np.ndarray:
    return rng.poisson(1.2, (6, days)).astype(float)


def test_a_cluster_in_two_neighbouring_counties_is_found_and_stays_in_its_city() -> None:
    counts = _background(np.random.default_rng(3))
    counts[[0, 1], -3:] += 6  # 330802 and 330803, the last three days
    adj = same_city_adjacency([*QUZHOU, *LISHUI])
    found = scan_zones(counts, zone_order(adj, 5), ScanOptions(replicates=199, max_days=7))
    top = found[0]
    members = {adj.areas[i] for i in top.areas.tolist()}
    assert top.p_value <= 0.01 and members <= set(QUZHOU) and {"330802", "330803"} & members
    assert top.end == 55 and top.start >= 53


def test_zones_must_name_known_areas() -> None:
    with pytest.raises(InvalidInput):
        scan_zones(np.ones((2, 5)), np.array([[0, 5], [1, 0]]))


def _record(svc: SurveillanceService, county: str, n: int, day: date, tag: str) -> None:
    with begin_write(svc.store.engine) as conn:
        for k in range(n):
            part = ReportPart("infectious_diarrhoea", DIAGNOSIS, day)
            report = Report(f"Condition/{tag}-{k}", 1, f"R-{tag}-{k}", county, None, "clinic", (part,))
            svc.store.record(conn, report, 0.0)


def _fill(svc: SurveillanceService, seed: int, cluster: bool) -> None:
    rng = np.random.default_rng(seed)
    for c, county in enumerate((*QUZHOU, *LISHUI)):
        for d in range(56):
            day = DAY - timedelta(days=55 - d)
            extra = 5 if cluster and c < 2 and d >= 53 else 0
            _record(svc, county, int(rng.poisson(1.0)) + extra, day, f"{county}-{d}")


def test_the_nightly_scan_raises_a_cluster_signal_written_as_fhir(repo: FhirRepository) -> None:
    svc = SurveillanceService(repo)
    _fill(svc, 11, cluster=True)
    summary, ids = svc.scan(DAY)
    assert summary.diseases == 1 and summary.clusters >= 1 and ids
    signal = svc.signals.get(ids[0])
    areas = signal["evidence"]["areas"]
    assert signal["method"] == "space_time_scan" and signal["pvalue"] <= 0.05
    assert set(areas) <= set(QUZHOU) and {"330802", "330803"} & set(areas)
    assert signal["observed"] > signal["expected"] and signal["evidence"]["window"]["end"] == DAY.isoformat()
    ctx = system_context()
    issue = repo.read(ctx, "DetectedIssue", signal["issue_ref"].split("/")[1]).resource
    assert issue is not None
    obs_id = issue["evidence"][0]["detail"][0]["reference"].split("/")[1]
    obs = repo.read(ctx, "Observation", obs_id).resource
    assert obs is not None
    listed = [c["valueCodeableConcept"]["coding"][0]["code"] for c in obs["component"]
              if c["code"]["coding"][0]["code"] == "cluster-area"]  # fmt: skip
    assert listed == areas and obs["effectivePeriod"]["end"] == DAY.isoformat()
    again, same = svc.scan(DAY)  # a rerun of the night reproduces it, without a second signal
    assert same == ids[: len(same)] and again.clusters == summary.clusters


def test_no_cluster_signal_without_a_cluster(repo: FhirRepository) -> None:
    svc = SurveillanceService(repo)
    _fill(svc, 12, cluster=False)
    summary, ids = svc.scan(DAY)
    assert summary.diseases == 1 and ids == []
