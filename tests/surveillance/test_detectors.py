"""Detector behaviour a surveillance officer relies on: strict options, gaps, zeros, short history."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from survdata import indexed, labelled_state

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.detectors import (
    CidarsOptions,
    CusumOptions,
    EarsOptions,
    EwmaOptions,
    FarringtonOptions,
    ThresholdOptions,
    detect_cidars,
    detect_cusum,
    detect_ears,
    detect_ewma,
    detect_farrington,
    detect_threshold,
    detector_options,
    noufaily_options,
    run_detector,
)
from healthbrain.surveillance.series import CountSeries, series_from_counts, series_from_dated


def test_a_misspelled_option_is_an_error_that_names_the_right_one() -> None:
    with pytest.raises(InvalidInput) as err:
        detector_options("noufaily", {"alpah": 0.01})
    assert err.value.code == "surveillance.unknown_option"
    assert "alpha" in err.value.message


def test_invalid_option_values_are_all_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        FarringtonOptions(alpha=1.5, b=0, threshold_method="nb")  # type: ignore[arg-type]
    assert err.value.code == "surveillance.invalid_option"
    assert len(err.value.issues) == 3


def test_an_unknown_detector_is_rejected() -> None:
    with pytest.raises(InvalidInput) as err:
        detector_options("farington")
    assert err.value.code == "surveillance.unknown_detector"


def test_options_from_a_mapping_start_from_the_method_preset() -> None:
    opts = detector_options("noufaily", {"alpha": 0.01})
    assert opts.no_periods == 10 and opts.threshold_method == "nbPlugin" and opts.alpha == 0.01


def test_negative_or_infinite_counts_are_rejected() -> None:
    with pytest.raises(InvalidInput):
        series_from_counts([1, -2, 3], 52)
    with pytest.raises(InvalidInput):
        CountSeries(np.array([1.0, np.inf]), 52)


def test_a_reporting_gap_is_unknown_not_zero() -> None:
    start = date(2024, 1, 1)
    points = [(start + timedelta(weeks=i), 3.0) for i in range(20) if i != 7]
    s = series_from_dated(points, 52)
    assert len(s) == 20 and s.missing == 1 and np.isnan(s.counts[7])


def test_a_period_reported_twice_is_an_error() -> None:
    day = date(2024, 1, 1)
    with pytest.raises(InvalidInput) as err:
        series_from_dated([(day, 1), (day, 2)], 52)
    assert err.value.code == "surveillance.duplicate_period"


def test_ears_skips_unknown_baseline_values_and_says_so() -> None:
    counts = [2, 3, 2, 4, 3, 2, 3, 2, 3, 12]
    full = detect_ears(series_from_counts(counts, 365), EarsOptions("C1"), at=[9])
    gappy = counts.copy()
    gappy[4] = None  # type: ignore[call-overload]
    part = detect_ears(series_from_counts(gappy, 365), EarsOptions("C1"), at=[9])
    assert part.alarm[0] and full.alarm[0]
    assert part.upperbound[0] != full.upperbound[0]
    assert [n.code for n in part.notes] == ["baseline.partial"]


def test_ears_without_enough_history_gives_no_bound_and_no_alarm() -> None:
    result = detect_ears(series_from_counts([0, 0, 9], 365), EarsOptions("C1"), at=[2])
    assert np.isnan(result.upperbound[0]) and not result.alarm[0]
    assert result.notes[0].code == "history.insufficient"


def test_all_zero_history_does_not_alarm_on_zero_but_does_on_a_case() -> None:
    s = series_from_counts([0] * 300 + [0, 1], 52)
    ears = detect_ears(s, EarsOptions("C1"), at=[300, 301])
    assert ears.alarm.tolist() == [False, True]
    farr = detect_farrington(s, noufaily_options(limit54=(1, 1)), at=[300, 301])
    assert farr.alarm.tolist() == [False, True]


def test_farrington_with_fewer_years_uses_what_it_has_and_notes_it() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(5.0, 52 * 2 + 10).astype(float)
    counts[-1] = 30
    s = CountSeries(counts, 52)
    result = detect_farrington(
        s, noufaily_options(b=5, no_periods=1, past_weeks_not_included=3), at=[len(s) - 1]
    )
    codes = [n.code for n in result.notes]
    assert "farrington.fewer_years" in codes
    assert result.alarm[0] and np.isfinite(result.upperbound[0])


def test_farrington_without_one_past_year_has_no_threshold() -> None:
    s = series_from_counts([3] * 40, 52)
    result = detect_farrington(s, FarringtonOptions(b=3), at=[39])
    assert np.isnan(result.upperbound[0]) and not result.alarm[0]
    assert result.notes[0].code == "history.insufficient"


def test_farrington_leaves_unknown_weeks_out_of_the_baseline() -> None:
    s = indexed("salmonella.agona")
    counts = s.counts.copy()
    counts[[200, 201, 250]] = np.nan
    gappy = CountSeries(counts, 52)
    at = list(range(280, 300))
    full = detect_farrington(s, FarringtonOptions(b=5), at)
    part = detect_farrington(gappy, FarringtonOptions(b=5), at)
    assert np.isfinite(part.upperbound).sum() == np.isfinite(full.upperbound).sum()
    assert not np.allclose(part.upperbound, full.upperbound, equal_nan=True)


def test_noufaily_flags_labelled_outbreak_weeks_more_than_other_weeks() -> None:
    hits = total_alarms = outbreak_weeks = 0
    for name in ("s1", "s3", "m3", "q1_nrwh", "h1_nrwrp"):
        result = detect_farrington(indexed(name), noufaily_options(b=3), list(range(160, 209)))
        state = labelled_state(name)[result.index]
        hits += int((result.alarm & state).sum())
        outbreak_weeks += int(state.sum())
        total_alarms += result.alarms
    assert hits / max(total_alarms, 1) > 0.5 and outbreak_weeks > 0


def test_fixed_threshold_fires_on_a_single_case_of_a_class_a_disease() -> None:
    s = series_from_counts([0, 0, 0, 1, 0], 365)
    result = detect_threshold(s, ThresholdOptions(cases=1))
    assert result.alarm.tolist() == [False, False, False, True, False]


def test_fixed_threshold_over_a_window_counts_the_window() -> None:
    s = series_from_counts([1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1], 365)
    result = detect_threshold(s, ThresholdOptions(cases=5, window=7))
    assert result.alarm.tolist()[-2:] == [False, True]
    assert result.upperbound[-1] == 0.0  # one more case is already too many


def test_cidars_compares_the_week_with_the_same_weeks_of_past_years() -> None:
    rng = np.random.default_rng(7)
    days = 365 * 3 + 30
    counts = rng.poisson(2.0, days).astype(float)
    counts[-7:] += 6  # a week of clearly more cases than in any past year
    s = series_from_counts(counts, 365)
    result = detect_cidars(s, CidarsOptions(window=7, years=3, percentile=90), at=[days - 8, days - 1])
    assert result.alarm.tolist() == [False, True]
    assert result.observed[-1] == counts[-7:].sum()


def test_cidars_with_fewer_years_uses_those_it_has() -> None:
    counts = np.full(365 + 40, 1.0)
    result = detect_cidars(series_from_counts(counts, 365), CidarsOptions(years=3), at=[404])
    assert np.isfinite(result.upperbound[0])
    assert result.notes[0].code == "cidars.fewer_years"


def test_poisson_cusum_accumulates_a_sustained_small_rise() -> None:
    rng = np.random.default_rng(3)
    base = rng.poisson(4.0, 100).astype(float)
    rise = rng.poisson(7.0, 20).astype(float)
    s = series_from_counts(np.concatenate([base, rise]), 52)
    at = list(range(100, 120))
    reset = detect_cusum(s, CusumOptions(kind="poisson", h=5.0, ratio=1.5, reset=True), at=at)
    stays = detect_cusum(s, CusumOptions(kind="poisson", h=5.0, ratio=1.5), at=at)
    assert reset.alarms >= 1 and stays.alarms > reset.alarms
    assert np.all(reset.expected == pytest.approx(base.mean()))


def test_negative_binomial_cusum_alarms_later_than_poisson_on_overdispersed_data() -> None:
    rng = np.random.default_rng(5)
    base = rng.negative_binomial(2, 2 / (2 + 5.0), 150).astype(float)
    s = series_from_counts(np.concatenate([base, np.full(15, 12.0)]), 52)
    at = list(range(150, 165))
    po = detect_cusum(s, CusumOptions(kind="poisson", h=5.0, ratio=2.0), at=at)
    nb = detect_cusum(s, CusumOptions(kind="negbin", h=5.0, ratio=2.0), at=at)
    assert int(np.argmax(nb.alarm)) >= int(np.argmax(po.alarm)) and nb.alarm.any()


def test_ewma_alarms_on_a_rise_and_reports_a_small_p_value() -> None:
    rng = np.random.default_rng(11)
    counts = np.concatenate([rng.poisson(10.0, 100), [25, 28, 30]]).astype(float)
    result = detect_ewma(series_from_counts(counts, 52), EwmaOptions(), at=[100, 101, 102])
    assert result.alarm[-1] and result.pvalue[-1] < 0.01
    assert result.observed[-1] > result.upperbound[-1]


def test_run_detector_by_name_matches_the_direct_call() -> None:
    s = indexed("shadar")
    by_name = run_detector("ears", s, {"method": "C2"}, at=list(range(260, 295)))
    direct = detect_ears(s, EarsOptions("C2"), list(range(260, 295)))
    np.testing.assert_array_equal(by_name.upperbound, direct.upperbound)
