"""Access-anomaly rules over one principal's recent activity and its learned baseline.

Five rules, each a small function of the principal's state and the access just audited:
- `volume-spike`: more distinct patients within the window than the principal's baseline allows
  (mean and spread of its past windows; a fixed floor while it has too few);
- `off-hours`: patient data outside working hours by a principal whose history is in working hours;
- `no-relationship`: several refused reads of patients (no care relationship, no consent) in a window;
- `watched-record`: any access to a VIP's or an employee's record (a list, or a Patient tag);
- `bulk-paging`: many pages of searches in a short time.
The state is mutable by design (it is updated on every audited request, in microseconds); findings
are frozen records carrying ids and counts only.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from healthbrain.core.settings import AnomalySettings

__all__ = ["RULES", "AccessEvent", "AnomalySettings", "Finding", "PrincipalState", "evaluate", "learn"]

RULES = ("volume-spike", "off-hours", "no-relationship", "watched-record", "bulk-paging")
# audit details of a read the policy refused (the caller was told "not found")
REFUSED = frozenset({"security.not_visible", "security.not_permitted"})
EMERGENCY = "ETREAT"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One audited interaction, as the rules see it."""

    at: float
    principal: str
    kind: str
    purpose: str
    action: str
    resource_type: str | None
    outcome: str
    detail: str
    patients: tuple[str, ...]
    params: tuple[str, ...]
    count: int
    request_id: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str  # low | medium | high
    detail: dict[str, Any]
    key: str = ""  # what the cooldown is per, besides the rule (a patient id for watched records)


@dataclass(slots=True)
class PrincipalState:
    """What is known of one principal: sliding windows, baselines, the last alert of each rule."""

    seen: dict[str, float] = field(default_factory=dict)  # patient → last access in the window
    seen_order: deque[tuple[float, str]] = field(default_factory=deque)
    refused: dict[str, float] = field(default_factory=dict)
    refused_order: deque[tuple[float, str]] = field(default_factory=deque)
    pages: deque[tuple[float, int]] = field(default_factory=deque)
    bucket: int = -1  # the current tumbling window of the volume baseline
    bucket_peak: int = 0  # the largest sliding count seen in the current tumbling window
    windows: int = 0  # Welford's running mean and sum of squares over closed active windows
    mean: float = 0.0
    m2: float = 0.0
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    last_alert: dict[tuple[str, str], float] = field(default_factory=dict)

    def threshold(self, s: AnomalySettings) -> float:
        """Distinct patients per window above which the principal's volume is a spike."""
        if self.windows < s.volume_min_windows:
            return float(s.volume_floor)
        std = math.sqrt(self.m2 / (self.windows - 1)) if self.windows > 1 else 0.0
        return max(float(s.volume_minimum), s.volume_factor * self.mean, self.mean + s.volume_sigmas * std)


def _expire(seen: dict[str, float], order: deque[tuple[float, str]], horizon: float) -> None:
    while order and order[0][0] < horizon:
        at, pid = order.popleft()
        if seen.get(pid) == at:
            del seen[pid]


def _remember(
    seen: dict[str, float], order: deque[tuple[float, str]], at: float, patients: tuple[str, ...]
) -> None:
    for pid in patients:
        seen[pid] = at
        order.append((at, pid))


def _local_hour(at: float, timezone: str) -> int:
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).hour


def _off_hours(hour: int, s: AnomalySettings) -> bool:
    return not s.work_start_hour <= hour < s.work_end_hour


def _slide(state: PrincipalState, e: AccessEvent, s: AnomalySettings) -> int:
    """Move the sliding window to the access; returns the distinct patients now in it."""
    _expire(state.seen, state.seen_order, e.at - s.volume_window_seconds)
    if e.outcome == "success" and e.patients:
        _remember(state.seen, state.seen_order, e.at, e.patients)
    return len(state.seen)


def _baseline(state: PrincipalState, e: AccessEvent, s: AnomalySettings, distinct: int) -> None:
    # The baseline is the distribution of each active window's peak sliding count: the very
    # statistic the rule compares, so that two busy minutes straddling a boundary are not a spike.
    bucket = int(e.at // s.volume_window_seconds)
    if bucket != state.bucket:
        if state.bucket >= 0 and state.bucket_peak:
            state.windows += 1
            delta = state.bucket_peak - state.mean
            state.mean += delta / state.windows
            state.m2 += delta * (state.bucket_peak - state.mean)
        state.bucket, state.bucket_peak = bucket, 0
    state.bucket_peak = max(state.bucket_peak, distinct)
    state.hours[_local_hour(e.at, s.timezone)] += 1


def learn(state: PrincipalState, e: AccessEvent, s: AnomalySettings) -> None:
    """Update the baselines with an access replayed from the audit trail (no judgement)."""
    if e.outcome == "success" and e.patients:
        _baseline(state, e, s, _slide(state, e, s))


def _volume(state: PrincipalState, e: AccessEvent, s: AnomalySettings, distinct: int) -> list[Finding]:
    if e.outcome != "success" or not e.patients:
        return []
    limit = state.threshold(s)
    if distinct <= limit:
        return []
    severity = "high" if distinct > 2 * limit else "medium"
    detail = {"patients": distinct, "threshold": round(limit, 1), "window_seconds": s.volume_window_seconds}
    return [Finding("volume-spike", severity, {**detail, "baseline_windows": state.windows})]


def _off_hours_rule(state: PrincipalState, e: AccessEvent, s: AnomalySettings) -> list[Finding]:
    if e.outcome != "success" or not e.patients or e.purpose == EMERGENCY:
        return []
    hour = _local_hour(e.at, s.timezone)
    total = sum(state.hours)
    if not _off_hours(hour, s) or total < s.off_hours_min_history:
        return []
    share = sum(c for h, c in enumerate(state.hours) if _off_hours(h, s)) / total
    if share >= s.off_hours_max_share:
        return []  # this principal works nights
    return [Finding("off-hours", "low", {"hour": hour, "usual_off_hours_share": round(share, 4)})]


def _refused(state: PrincipalState, e: AccessEvent, s: AnomalySettings) -> list[Finding]:
    if e.outcome == "success" or e.detail not in REFUSED or not e.patients:
        return []
    _expire(state.refused, state.refused_order, e.at - s.refused_window_seconds)
    _remember(state.refused, state.refused_order, e.at, e.patients)
    n = len(state.refused)
    if n < s.refused_threshold:
        return []
    severity = "high" if n >= 4 * s.refused_threshold else "medium"
    return [Finding("no-relationship", severity, {"patients": n, "window_seconds": s.refused_window_seconds})]


def _watched(e: AccessEvent, watched: frozenset[str]) -> list[Finding]:
    if e.outcome != "success" or not watched:
        return []
    return [
        Finding("watched-record", "high", {"patient": pid, "action": e.action}, key=pid)
        for pid in dict.fromkeys(e.patients)
        if pid in watched
    ]


def _paging(state: PrincipalState, e: AccessEvent, s: AnomalySettings) -> list[Finding]:
    if e.outcome != "success" or e.action != "search" or "_offset" not in e.params:
        return []
    horizon = e.at - s.paging_window_seconds
    while state.pages and state.pages[0][0] < horizon:
        state.pages.popleft()
    state.pages.append((e.at, e.count))
    if len(state.pages) < s.paging_threshold:
        return []
    records = sum(c for _, c in state.pages)
    detail = {"pages": len(state.pages), "records": records, "window_seconds": s.paging_window_seconds}
    return [Finding("bulk-paging", "medium", {**detail, "resource_type": e.resource_type})]


def evaluate(
    state: PrincipalState, e: AccessEvent, s: AnomalySettings, watched: frozenset[str]
) -> list[Finding]:
    """Judge one access, then learn from it; returns the findings not in their cooldown."""
    distinct = _slide(state, e, s)
    found = [
        *_volume(state, e, s, distinct),
        *_off_hours_rule(state, e, s),
        *_refused(state, e, s),
        *_watched(e, watched),
        *_paging(state, e, s),
    ]
    if e.outcome == "success" and e.patients:
        _baseline(state, e, s, distinct)
    out = []
    for f in found:
        last = state.last_alert.get((f.rule, f.key))
        if last is not None and e.at - last < s.cooldown_seconds:
            continue
        state.last_alert[(f.rule, f.key)] = e.at
        out.append(f)
    return out
