"""Detectors by name, with options parsed strictly from user mappings (API, configuration)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.detectors.cidars import CidarsOptions, detect_cidars
from healthbrain.surveillance.detectors.cusum import CusumOptions, detect_cusum
from healthbrain.surveillance.detectors.ears import EarsOptions, detect_ears
from healthbrain.surveillance.detectors.ewma import EwmaOptions, detect_ewma
from healthbrain.surveillance.detectors.farrington import (
    FarringtonOptions,
    detect_farrington,
    farrington_options,
    noufaily_options,
)
from healthbrain.surveillance.detectors.result import Detection
from healthbrain.surveillance.detectors.threshold import ThresholdOptions, detect_threshold
from healthbrain.surveillance.options import parse_options
from healthbrain.surveillance.series import CountSeries


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """A detector: its options class, the preset its options start from, and the function."""

    options: type[Any]
    preset: Callable[[], Any]
    run: Callable[[CountSeries, Any, Sequence[int] | None], Detection]


DETECTORS: Mapping[str, DetectorSpec] = {
    "ears": DetectorSpec(EarsOptions, EarsOptions, detect_ears),
    "farrington": DetectorSpec(FarringtonOptions, farrington_options, detect_farrington),
    "noufaily": DetectorSpec(FarringtonOptions, noufaily_options, detect_farrington),
    "cusum": DetectorSpec(CusumOptions, CusumOptions, detect_cusum),
    "ewma": DetectorSpec(EwmaOptions, EwmaOptions, detect_ewma),
    "threshold": DetectorSpec(ThresholdOptions, ThresholdOptions, detect_threshold),
    "cidars": DetectorSpec(CidarsOptions, CidarsOptions, detect_cidars),
}


def detector_options(name: str, values: Mapping[str, Any] | None = None) -> Any:
    """The validated options of detector `name`: its preset with `values` applied.

    Raises:
        InvalidInput: `surveillance.unknown_detector`, `surveillance.unknown_option` (a misspelled
            option) or `surveillance.invalid_option`.
    """
    spec = DETECTORS.get(name)
    if spec is None:
        known = ", ".join(sorted(DETECTORS))
        raise InvalidInput(f"unknown detector '{name}'; known: {known}", code="surveillance.unknown_detector")
    parse_options(spec.options, values)  # rejects unknown keys and bad values with located issues
    return replace(spec.preset(), **dict(values or {}))


def run_detector(
    name: str, series: CountSeries, values: Mapping[str, Any] | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run detector `name` with options from a mapping (see `detector_options`)."""
    return DETECTORS[name].run(series, detector_options(name, values), at)
