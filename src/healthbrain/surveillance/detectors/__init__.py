"""Aberration detectors: pure functions from a count series and frozen options to a Detection."""

from healthbrain.surveillance.detectors.cidars import CidarsOptions, cidars_bounds, detect_cidars
from healthbrain.surveillance.detectors.cusum import CusumOptions, detect_cusum
from healthbrain.surveillance.detectors.ears import EarsOptions, detect_ears, ears_bounds
from healthbrain.surveillance.detectors.ewma import EwmaOptions, detect_ewma
from healthbrain.surveillance.detectors.farrington import (
    FarringtonOptions,
    detect_farrington,
    detect_farrington_many,
    farrington_options,
    noufaily_options,
)
from healthbrain.surveillance.detectors.registry import DETECTORS, detector_options, run_detector
from healthbrain.surveillance.detectors.result import Detection, Note
from healthbrain.surveillance.detectors.scan import Cluster, ScanOptions, scan_space_time, scan_zones
from healthbrain.surveillance.detectors.threshold import ThresholdOptions, detect_threshold

__all__ = [
    "DETECTORS",
    "CidarsOptions",
    "Cluster",
    "CusumOptions",
    "Detection",
    "EarsOptions",
    "EwmaOptions",
    "FarringtonOptions",
    "Note",
    "ScanOptions",
    "ThresholdOptions",
    "cidars_bounds",
    "detect_cidars",
    "detect_cusum",
    "detect_ears",
    "detect_ewma",
    "detect_farrington",
    "detect_farrington_many",
    "detect_threshold",
    "detector_options",
    "ears_bounds",
    "farrington_options",
    "noufaily_options",
    "run_detector",
    "scan_space_time",
    "scan_zones",
]
