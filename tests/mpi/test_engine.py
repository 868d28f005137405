"""The matching engine on its own: blocking against brute force, EM against known parameters."""

from __future__ import annotations

import itertools

import numpy as np

from healthbrain.mpi.blocking import BlockingRule, block_on, block_pairs
from healthbrain.mpi.cluster import connected_clusters, stable_ids
from healthbrain.mpi.em import collapse, run_em
from healthbrain.mpi.evaluation import pairwise_accuracy
from healthbrain.mpi.frame import make_frame


def _random_frame(n: int, seed: int) -> tuple[list[str], dict[str, list[str]]]:
    rng = np.random.default_rng(seed)
    cols = {
        "a": [str(x) if x else "" for x in rng.integers(0, 8, n)],
        "b": [str(x) for x in rng.integers(0, 5, n)],
        "c": [str(x) for x in rng.integers(0, 5, n)],
    }
    return [f"r{k}" for k in range(n)], cols


def test_blocking_finds_exactly_the_pairs_its_rules_describe() -> None:
    ids, cols = _random_frame(120, 1)
    frame = make_frame(ids, cols)
    rules = [block_on("a"), block_on("b", "c"), BlockingRule(("b",), ("c",))]
    pairs = block_pairs(frame, rules)
    found = set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))
    assert len(found) == len(pairs)  # each pair once
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(ids)), 2)
        if (cols["a"][i] and cols["a"][i] == cols["a"][j])
        or (cols["b"][i] == cols["b"][j] and cols["c"][i] == cols["c"][j])
        or cols["b"][i] == cols["c"][j]
        or cols["c"][i] == cols["b"][j]
    }
    assert found == expected


def test_linking_only_pairs_records_of_different_sources_and_skips_huge_blocks() -> None:
    ids, cols = _random_frame(60, 2)
    frame = make_frame(ids, cols, source=[k % 2 for k in range(60)])
    pairs = block_pairs(frame, [block_on("b")], "link")
    assert (frame.source[pairs.left] != frame.source[pairs.right]).all()
    small = block_pairs(frame, [block_on("b", max_block=3)])
    assert len(small) == 0 and small.skipped_blocks > 0


def test_em_recovers_the_m_probabilities_that_generated_the_pairs() -> None:
    rng = np.random.default_rng(3)
    m_true = [np.array([0.05, 0.15, 0.8]), np.array([0.1, 0.9])]
    u_true = [np.array([0.9, 0.08, 0.02]), np.array([0.7, 0.3])]
    n, share = 40_000, 0.2
    is_match = rng.random(n) < share
    gamma = np.zeros((n, 2), dtype=np.int8)
    for c in range(2):
        k = len(m_true[c])
        gamma[is_match, c] = rng.choice(k, size=int(is_match.sum()), p=m_true[c])
        gamma[~is_match, c] = rng.choice(k, size=int((~is_match).sum()), p=u_true[c])
    patterns = collapse(gamma, [3, 2])
    start = [np.full(3, 1 / 3), np.array([0.5, 0.5])]
    start[0][2] += 0.1
    start[0] /= start[0].sum()
    result = run_em(patterns, start, u_true, 0.5, [True, True], pseudo_count=0.0, max_iterations=1000)
    assert result.converged
    assert abs(result.match_share - share) < 0.02
    for c in range(2):
        assert np.abs(result.m[c] - m_true[c]).max() < 0.03


def test_clusters_join_transitively_and_accuracy_counts_pairs() -> None:
    labels = connected_clusters(5, np.array([0, 1]), np.array([1, 2]))
    assert labels[0] == labels[1] == labels[2] != labels[3] != labels[4]
    acc = pairwise_accuracy(labels, np.array([0, 0, 1, 2, 2]))
    # predicted pairs 01 02 12 (3); true pairs 01 34 (2); right: 01
    assert (acc.true_positives, acc.predicted_pairs, acc.true_pairs) == (1, 3, 2)


def test_resident_ids_survive_a_rerun_that_changes_the_clusters() -> None:
    ids = ["p1", "p2", "p3", "p4", "p5", "p6"]
    first = stable_ids(np.array([0, 0, 1, 1, 2, 2]), ids, {}, iter(["A", "B", "C"]).__next__)
    assert first == {"p1": "A", "p2": "A", "p3": "B", "p4": "B", "p5": "C", "p6": "C"}
    # A and B turn out to be one person; C splits in two; p7 is new
    ids2 = [*ids, "p7"]
    second = stable_ids(np.array([0, 0, 0, 0, 1, 2, 0]), ids2, first, iter(["N1", "N2"]).__next__)
    assert second["p1"] == second["p3"] == second["p7"] in ("A", "B")
    assert {second["p5"], second["p6"]} == {"C", "N1"}
