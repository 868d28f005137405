"""Regenerates the patient index's starting model (src/healthbrain/mpi/data/default_model.json).

Trained without labels on simulated residents (mpi_data.py) with the default Chinese settings; it
serves until the first batch re-link trains on the region's own records. Term-frequency tables
are left out: they describe a population and are rebuilt from the real one at that first training.
Usage: python bench/mpi_default_model.py [--residents 50000]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import orjson

from healthbrain.mpi.chinese import chinese_settings
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.records import patient_record
from healthbrain.mpi.training import train_model
from mpi_data import chinese_records

TARGET = Path(__file__).resolve().parents[1] / "src" / "healthbrain" / "mpi" / "data" / "default_model.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=50_000)
    args = parser.parse_args()
    data = chinese_records(args.residents, seed=99)
    frame = chinese_frame([patient_record(p) for p in data.patients])
    s = chinese_settings()
    model = train_model(frame, s.comparisons, s.blocking, s.training, s.link_type)
    model = replace(model, term_frequencies={})
    TARGET.write_bytes(orjson.dumps(model.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    print(TARGET, model.prior)


if __name__ == "__main__":
    main()
