"""Infectious-disease surveillance and early warning (传染病监测预警): detectors, forecasts, signals."""

from healthbrain.surveillance.adjacency import (
    Adjacency,
    adjacency_from_pairs,
    parse_pairs,
    same_city_adjacency,
)
from healthbrain.surveillance.casedef import (
    BY_KEY,
    DISEASES,
    SYNDROME_BY_KEY,
    SYNDROME_LIST,
    Disease,
    Syndrome,
    disease_of,
    syndromes_of,
)
from healthbrain.surveillance.clusters import ClusterOptions, ScanSummary, run_scan
from healthbrain.surveillance.detection import RunSummary, run_detection
from healthbrain.surveillance.evaluation import Evaluation, OutbreakTruth, SignalHit, evaluate_signals
from healthbrain.surveillance.series import CountSeries, series_from_counts, series_from_dated
from healthbrain.surveillance.service import CONDITION_SUBSCRIBER, OBSERVATION_SUBSCRIBER, SurveillanceService

__all__ = [
    "BY_KEY",
    "CONDITION_SUBSCRIBER",
    "DISEASES",
    "OBSERVATION_SUBSCRIBER",
    "SYNDROME_BY_KEY",
    "SYNDROME_LIST",
    "Adjacency",
    "ClusterOptions",
    "CountSeries",
    "Disease",
    "Evaluation",
    "OutbreakTruth",
    "RunSummary",
    "ScanSummary",
    "SignalHit",
    "SurveillanceService",
    "Syndrome",
    "adjacency_from_pairs",
    "disease_of",
    "evaluate_signals",
    "parse_pairs",
    "run_detection",
    "run_scan",
    "same_city_adjacency",
    "series_from_counts",
    "series_from_dated",
    "syndromes_of",
]
