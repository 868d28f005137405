"""The nightly space-time scan: for each disease with recent cases, the prospective space-time
permutation scan over counties and their neighbours; significant clusters become signal drafts
with the cluster's counties, window, observed and expected cases and p-value as evidence."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from healthbrain.surveillance.adjacency import Adjacency, merge, same_city_adjacency, zone_order
from healthbrain.surveillance.casedef import BY_KEY
from healthbrain.surveillance.counts import CountStore
from healthbrain.surveillance.detectors import Cluster, ScanOptions, scan_zones
from healthbrain.surveillance.options import check, is_int_at_least, is_probability
from healthbrain.surveillance.signal_store import SignalDraft

SCAN_METHOD = "space_time_scan"


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Options of the nightly scan.

    Attributes:
        study_days: days of history the expected counts come from (the study period).
        alpha: clusters with a p-value at or below become signals.
        min_recent: cases of a disease in the scan's longest window needed to scan it at all.
        min_cluster_cases: cases a cluster must hold to be reported.
        scan: the scan's own options (zone size, window, replicates, seed).
    """

    study_days: int = 56
    alpha: float = 0.05
    min_recent: int = 3
    min_cluster_cases: int = 3
    scan: ScanOptions = field(default_factory=lambda: ScanOptions(max_areas=5, max_days=7, max_clusters=3))

    def __post_init__(self) -> None:
        problems = []
        if not is_int_at_least(self.study_days, 14):
            problems.append("study_days must be an integer of at least 14")
        if not is_probability(self.alpha):
            problems.append("alpha must lie in (0, 1)")
        if not is_int_at_least(self.min_recent, 1) or not is_int_at_least(self.min_cluster_cases, 1):
            problems.append("min_recent and min_cluster_cases must be positive integers")
        if not isinstance(self.scan, ScanOptions) or self.scan.max_days > self.study_days:
            problems.append("scan must be ScanOptions with max_days within the study period")
        check(problems, "ClusterOptions")


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """What a scan run looked at and found."""

    day: str
    diseases: int
    clusters: int
    drafts: tuple[SignalDraft, ...]


def _matrix(rows: list[tuple[str, str, int]], areas: tuple[str, ...], first: date, days: int) -> np.ndarray:
    index = {a: i for i, a in enumerate(areas)}
    counts = np.zeros((len(areas), days))
    for area, day, n in rows:
        if area in index:
            counts[index[area], (date.fromisoformat(day) - first).days] += n
    return counts


def _draft(disease: str, areas: tuple[str, ...], c: Cluster, counts: np.ndarray, first: date) -> SignalDraft:
    members = [areas[i] for i in c.areas.tolist()]
    days = [first + timedelta(days=i) for i in range(counts.shape[1])]
    tail = slice(max(0, len(days) - 28), len(days))
    evidence = {
        "areas": members,
        "window": {"start": days[c.start].isoformat(), "end": days[c.end].isoformat()},
        "llr": round(c.llr, 6),
        "notes": [],
        "chart": {
            "days": [d.isoformat() for d in days[tail]],
            "cases": [int(v) for v in counts[c.areas].sum(axis=0)[tail]],
        },
    }
    return SignalDraft(
        disease=disease, area=members[0], day=days[-1].isoformat(), method=SCAN_METHOD,
        observed=c.observed, expected=c.expected, threshold=None, pvalue=c.p_value, evidence=evidence,
    )  # fmt: skip


def scan_disease(
    store: CountStore, disease: str, day: date, adjacency: Adjacency, options: ClusterOptions
) -> tuple[list[Cluster], np.ndarray, date]:
    """The scan of one disease over the study period ending on `day` (clusters, counts, first day)."""
    first = day - timedelta(days=options.study_days - 1)
    counts = _matrix(store.matrix(disease, first, day), adjacency.areas, first, options.study_days)
    if counts[:, -options.scan.max_days :].sum() < options.min_recent:
        return [], counts, first
    # One seed per day and disease: a rerun of a night reproduces its p-values exactly.
    seed = options.scan.seed + day.toordinal() * 64 + sorted(BY_KEY).index(disease)
    scan = dataclasses.replace(options.scan, seed=seed)
    found = scan_zones(counts, zone_order(adjacency, scan.max_areas), scan)
    return [c for c in found if c.observed >= options.min_cluster_cases], counts, first


def run_scan(
    store: CountStore, day: date, adjacency: Adjacency | None = None, options: ClusterOptions | None = None
) -> ScanSummary:
    """Scan every notifiable disease with recent cases; significant clusters become drafts.

    Args:
        store: the counts.
        day: the last day of the study period (the night's day).
        adjacency: neighbouring counties; every county with cases is added, counties of one city
            being neighbours (the hierarchy), so a partial adjacency file is completed.
        options: see `ClusterOptions`.
    """
    opts = options or ClusterOptions()
    first = day - timedelta(days=opts.scan.max_days - 1)
    recent = sorted({k for k, _ in store.active_series(first, day) if k in BY_KEY})
    known = same_city_adjacency(store.areas())
    adj = merge(known, adjacency) if adjacency is not None else known
    drafts: list[SignalDraft] = []
    clusters = 0
    for disease in recent:
        found, counts, start = scan_disease(store, disease, day, adj, opts)
        clusters += len(found)
        drafts.extend(_draft(disease, adj.areas, c, counts, start) for c in found if c.p_value <= opts.alpha)
    return ScanSummary(day.isoformat(), len(recent), clusters, tuple(drafts))
