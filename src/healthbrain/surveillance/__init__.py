"""Infectious-disease surveillance and early warning (传染病监测预警): detectors, forecasts, signals."""

from healthbrain.surveillance.casedef import BY_KEY, DISEASES, Disease, disease_of, syndromes_of
from healthbrain.surveillance.detection import RunSummary, run_detection
from healthbrain.surveillance.series import CountSeries, series_from_counts, series_from_dated
from healthbrain.surveillance.service import CONDITION_SUBSCRIBER, SurveillanceService

__all__ = [
    "BY_KEY",
    "CONDITION_SUBSCRIBER",
    "DISEASES",
    "CountSeries",
    "Disease",
    "RunSummary",
    "SurveillanceService",
    "disease_of",
    "run_detection",
    "series_from_counts",
    "series_from_dated",
    "syndromes_of",
]
