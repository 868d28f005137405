"""Delta checks: trends against the patient's own earlier results."""

from __future__ import annotations

from healthbrain.cds.delta import PriorResult, evaluate_delta
from healthbrain.cds.kb import KnowledgeBase

HOUR = 3600.0
NOW = 1_800_000_000.0


def fired(kb: KnowledgeBase, analyte: str, value: float, history: list[PriorResult]) -> set[str]:
    return {f.rule.id for f in evaluate_delta(kb.delta, analyte, value, NOW, history)}


def test_creatinine_rising_half_within_48_hours_is_flagged(kb: KnowledgeBase) -> None:
    history = [PriorResult(80.0, NOW - 40 * HOUR), PriorResult(95.0, NOW - 10 * HOUR)]
    rules = fired(kb, "creatinine", 121.0, history)  # +51 % over the lowest value in 48 h
    assert "creatinine_rise_50pct_48h" in rules
    assert "creatinine_rise_26umol_48h" in rules


def test_creatinine_absolute_rise_without_50_percent(kb: KnowledgeBase) -> None:
    rules = fired(kb, "creatinine", 140.0, [PriorResult(110.0, NOW - 24 * HOUR)])  # +30 umol/L, +27 %
    assert rules == {"creatinine_rise_26umol_48h"}


def test_old_results_outside_the_window_do_not_count(kb: KnowledgeBase) -> None:
    assert fired(kb, "creatinine", 200.0, [PriorResult(80.0, NOW - 72 * HOUR)]) == set()


def test_no_history_no_finding_and_future_results_ignored(kb: KnowledgeBase) -> None:
    assert fired(kb, "creatinine", 300.0, []) == set()
    assert fired(kb, "creatinine", 300.0, [PriorResult(80.0, NOW + HOUR)]) == set()


def test_haemoglobin_fall_and_sodium_overcorrection(kb: KnowledgeBase) -> None:
    assert fired(kb, "hemoglobin", 95.0, [PriorResult(120.0, NOW - 6 * HOUR)]) == {"hemoglobin_fall_20_24h"}
    assert fired(kb, "hemoglobin", 110.0, [PriorResult(120.0, NOW - 6 * HOUR)]) == set()
    assert fired(kb, "sodium", 128.0, [PriorResult(116.0, NOW - 20 * HOUR)]) == {"sodium_change_10_24h"}
