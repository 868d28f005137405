"""The plans' figure: at least 99 % of injected anomalies caught, at most 1 % false alarms on clean records.

Ground truth: the simulator's identity errors in Patient records (check digits, swapped birth dates,
missing ID numbers, duplicate registrations) plus the clinical anomalies of quality.injection.
"""

from __future__ import annotations

from qualitydata import ARRIVAL

from healthbrain.quality import default_rules
from healthbrain.quality.evaluation import evaluate_institutions, score_detection
from healthbrain.quality.injection import KINDS, inject_anomalies
from healthbrain.simulation import RegionConfig, simulate_region


def test_injected_anomalies_are_recognised_and_clean_records_are_not_flagged() -> None:
    config = RegionConfig(patients=800, seed=21, noise_rate=0.3, duplicate_rate=0.05)
    region = simulate_region(config)
    institutions = {k: list(v) for k, v in region.institutions.items()}
    errors = region.ground_truth.errors
    injected = inject_anomalies(institutions, seed=22, rate=0.004, year=config.year, arrival=ARRIVAL,
                                skip=frozenset(e.record for e in errors))  # fmt: skip
    report = score_detection(
        evaluate_institutions(institutions, default_rules(), ARRIVAL),
        [(e.record, e.kind) for e in errors] + [(a.record, a.kind) for a in injected],
    )
    assert set(KINDS) <= set(report.kinds), "every clinical kind was injected at least once"
    assert sum(k.injected for k in report.kinds.values()) > 500
    assert report.recognition_rate >= 0.99, report.to_json()
    assert report.detection_rate >= 0.99
    assert report.false_alarm_rate <= 0.01, report.to_json()["falseAlarmRules"]
    # name and phone errors need other records of the person: the patient index's ground truth
    assert set(report.linkage) <= {"name_confusable", "phone_outdated"}
