"""Side by side with R `surveillance` 1.20.3: the stored reference outputs, reproduced without R."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from survdata import EXTENDED_GOLDEN, SHARED_GOLDEN, golden, series, value

from healthbrain.surveillance.detectors import (
    CusumOptions,
    Detection,
    EarsOptions,
    FarringtonOptions,
    detect_cusum,
    detect_ears,
    detect_farrington,
    farrington_options,
    noufaily_options,
)
from healthbrain.surveillance.series import CountSeries

Run = Callable[[CountSeries, list[int], int], Detection]
EARS_TOL = 1e-9
FARRINGTON_REL = 1e-6

CONFIGS: dict[str, Run] = {
    "ears_C1": lambda s, at, b: detect_ears(s, EarsOptions("C1"), at),
    "ears_C2": lambda s, at, b: detect_ears(s, EarsOptions("C2"), at),
    "ears_C3": lambda s, at, b: detect_ears(s, EarsOptions("C3"), at),
    "ears_C1_a05": lambda s, at, b: detect_ears(s, EarsOptions("C1", alpha=0.05), at),
    "ears_C2_a05_sigma": lambda s, at, b: detect_ears(s, EarsOptions("C2", alpha=0.05, min_sigma=0.5), at),
    "farrington_orig": lambda s, at, b: detect_farrington(s, farrington_options(b=b), at),
    "farrington": lambda s, at, b: detect_farrington(s, farrington_options(b=b), at),
    "farrington_a01_w2": lambda s, at, b: detect_farrington(
        s, farrington_options(b=b, w=2, past_weeks_not_included=2, alpha=0.01), at
    ),
    "farrington_default": lambda s, at, b: detect_farrington(s, FarringtonOptions(b=b), at),
    "noufaily": lambda s, at, b: detect_farrington(s, noufaily_options(b=b), at),
    "noufaily_a01": lambda s, at, b: detect_farrington(s, noufaily_options(b=b, alpha=0.01), at),
    "noufaily_muan": lambda s, at, b: detect_farrington(
        s, noufaily_options(b=b, threshold_method="muan"), at
    ),
    "cusum": lambda s, at, b: detect_cusum(s, CusumOptions(), at),
    "cusum_standard": lambda s, at, b: detect_cusum(s, CusumOptions(), at),
}
YEARS = {
    "salmonella.agona": 5,
    "campyDE": 5,
    "salmHospitalized": 5,
    "salmNewportGermany_2011": 4,
    "shadar_2006": 4,
}


def _cases(path, config_key):  # type: ignore[no-untyped-def]
    return [pytest.param(ds, cfg, rows, id=f"{ds}:{cfg}") for (ds, cfg), rows in golden(path, config_key).items()
            if cfg in CONFIGS]  # fmt: skip


def _compare(ds: str, cfg: str, rows: list[dict[str, str]]) -> None:
    at = [int(r["t"]) - 1 for r in rows]
    result = CONFIGS[cfg](series(ds), at, YEARS.get(ds, 3))
    observed = np.array([value(r["observed"]) for r in rows])
    np.testing.assert_array_equal(result.observed, observed)
    ref = np.array([value(r["upperbound"]) for r in rows])
    np.testing.assert_array_equal(np.isnan(result.upperbound), np.isnan(ref), err_msg="where R has no bound")
    known = ~np.isnan(ref)
    if cfg.startswith("ears") or cfg.startswith("cusum"):
        np.testing.assert_allclose(result.upperbound[known], ref[known], rtol=0, atol=EARS_TOL)
    else:
        np.testing.assert_allclose(result.upperbound[known], ref[known], rtol=FARRINGTON_REL, atol=0)
    alarms = np.array([r["alarm"] == "1" for r in rows])
    np.testing.assert_array_equal(result.alarm, alarms, err_msg="alarm vector differs from R")
    for field in ("pvalue", "expected"):
        if field in rows[0] and not cfg.startswith(("ears", "cusum")):
            ref_f = np.array([value(r[field]) for r in rows])
            mine = getattr(result, field)
            ok = ~np.isnan(ref_f)
            np.testing.assert_allclose(mine[ok], ref_f[ok], rtol=FARRINGTON_REL, atol=1e-300)


@pytest.mark.parametrize(("ds", "cfg", "rows"), _cases(SHARED_GOLDEN, "algo"))
def test_shared_reference_outputs_are_reproduced(ds: str, cfg: str, rows: list[dict[str, str]]) -> None:
    _compare(ds, cfg, rows)


@pytest.mark.parametrize(("ds", "cfg", "rows"), _cases(EXTENDED_GOLDEN, "config"))
def test_extended_reference_outputs_are_reproduced(ds: str, cfg: str, rows: list[dict[str, str]]) -> None:
    """16 more series (12 RKI, salmonella.agona, hepatitisA, and dated campyDE / salmHospitalized)
    with p-values and expected counts, produced by bench/r/golden_extended.R."""
    _compare(ds, cfg, rows)


def test_every_shared_reference_config_we_implement_is_checked() -> None:
    configs = {cfg for (_, cfg) in golden(SHARED_GOLDEN, "algo")}
    covered = configs & set(CONFIGS)
    assert covered >= {"ears_C1", "ears_C2", "ears_C3", "ears_C1_a05", "farrington_orig", "noufaily",
                       "noufaily_muan", "cusum"}  # fmt: skip
