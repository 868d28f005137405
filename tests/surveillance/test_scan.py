"""Space-time permutation scan: finds an injected cluster of neighbouring areas, not noise."""

from __future__ import annotations

import time

import numpy as np
import pytest

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.detectors import ScanOptions, scan_space_time


def _grid(side: int) -> np.ndarray:
    return np.array([(x * 10.0, y * 10.0) for x in range(side) for y in range(side)])


def _background(rng: np.random.Generator, areas: int, days: int) -> np.ndarray:
    size = rng.uniform(0.5, 3.0, areas)  # areas differ in population
    weekly = 1.0 + 0.3 * np.sin(np.arange(days) * 2 * np.pi / 7)  # and days in attendance
    return rng.poisson(np.outer(size, weekly)).astype(float)


def test_an_injected_cluster_in_neighbouring_areas_is_found() -> None:
    rng = np.random.default_rng(4)
    coords = _grid(6)
    counts = _background(rng, 36, 30)
    cluster_areas = [14, 15, 20]  # adjacent cells of the grid
    counts[cluster_areas, -3:] += 6
    found = scan_space_time(counts, coords, ScanOptions(replicates=199))
    top = found[0]
    assert top.p_value <= 0.01
    assert len(set(cluster_areas) & set(top.areas.tolist())) >= 2 and len(top.areas) <= 6
    assert top.end == 29 and top.start >= 25
    assert top.observed > top.expected


def test_noise_alone_is_rarely_significant() -> None:
    """Without space-time interaction, p-values are about uniform: few of 12 data sets are below 0.05."""
    p_values = []
    for seed in range(12):
        counts = _background(np.random.default_rng(100 + seed), 36, 30)
        p_values.append(scan_space_time(counts, _grid(6), ScanOptions(replicates=49, seed=seed))[0].p_value)
    assert sum(p <= 0.05 for p in p_values) <= 3
    assert np.median(p_values) > 0.2


def test_the_same_seed_gives_the_same_p_value() -> None:
    rng = np.random.default_rng(5)
    counts = _background(rng, 16, 20)
    a = scan_space_time(counts, _grid(4), ScanOptions(replicates=99, seed=1))
    b = scan_space_time(counts, _grid(4), ScanOptions(replicates=99, seed=1))
    assert a[0].p_value == b[0].p_value and a[0].areas.tolist() == b[0].areas.tolist()


def test_secondary_clusters_do_not_overlap_the_first() -> None:
    rng = np.random.default_rng(6)
    counts = _background(rng, 36, 30)
    counts[[0, 1], -2:] += 8
    counts[[34, 35], -2:] += 8
    found = scan_space_time(counts, _grid(6), ScanOptions(replicates=99))
    assert len(found) >= 2
    assert not set(found[0].areas.tolist()) & set(found[1].areas.tolist())


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        scan_space_time(np.array([[1.0, -1.0]]), np.zeros((1, 2)))
    with pytest.raises(InvalidInput):
        scan_space_time(np.ones((3, 4)), np.zeros((2, 2)))
    with pytest.raises(InvalidInput):
        ScanOptions(max_days=0)
    assert scan_space_time(np.zeros((3, 5)), _grid(2)[:3]) == []


def test_a_county_scan_with_999_replicates_takes_seconds() -> None:
    rng = np.random.default_rng(7)
    counts = _background(rng, 100, 28)
    t0 = time.perf_counter()
    scan_space_time(counts, _grid(10), ScanOptions(replicates=999))
    assert time.perf_counter() - t0 < 20


def test_the_prospective_replicates_follow_the_full_permutation() -> None:
    """Drawing only the recent days' counts (multivariate hypergeometric) gives the same null
    distribution of the maximum LLR as shuffling every case's day."""
    import dataclasses

    from scipy.stats import ks_2samp

    from healthbrain.surveillance.detectors.scan import _cylinder_sums, _replicate_maxima, _windows

    rng = np.random.default_rng(8)
    counts = _background(rng, 25, 40)
    opts = ScanOptions(replicates=400, max_areas=4, max_days=7, seed=3)
    dist = np.linalg.norm(_grid(5)[:, None, :] - _grid(5)[None, :, :], axis=-1)
    order = np.argsort(dist, axis=1, kind="stable")[:, :4]
    windows = _windows(40, opts)
    total = float(counts.sum())
    mu = _cylinder_sums(np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total, order, windows)
    fast = _replicate_maxima(counts, order, windows, mu, total, opts)
    full = _replicate_maxima(counts, order, windows, mu, total, dataclasses.replace(opts, prospective=False))
    assert ks_2samp(fast, full).pvalue > 0.01
    assert abs(np.median(fast) - np.median(full)) < 0.15 * np.median(full)
