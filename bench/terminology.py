"""Terminology and CSV benchmark: operation latency over the shipped content, and CSV rows loaded per second.

Latency: $expand (ICD-10, 12,542 codes, a text filter and count=20; a small value set), $validate-code,
$lookup and $translate, called through the TerminologyService (policy + audit included) and over
HTTP (FastAPI TestClient, so ASGI, JSON and the bearer check are in; no network). Medians and p95
over many calls, after one warm-up call (the first $expand of a value set per index generation also
measured: "cold").
CSV: a lab-result export (the shipped example's layout) scaled to N rows with new specimens and
patients, loaded with the shipped lab-results.yaml (LOINC translation through the terminology
service, validation on) into a fresh SQLite file (and PostgreSQL when reachable), median of runs.
Anchor: none given by the issue; interactive terminology servers aim at well under 50 ms per
$expand call, and the HL7 v2 path's ≥2,000 messages/s is the ingest figure next to it.
Usage: python bench/terminology.py [--calls 300] [--rows 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthbrain.cli.terminology_cmd import shipped_resources
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.tabular import (
    TerminologyCodes,
    example_path,
    ingest_table,
    load_spec,
    review_sightings,
)
from healthbrain.storage.migrate import upgrade_database
from healthbrain.terminology import (
    EXPAND_PARAMS,
    ICD10,
    LOINC,
    LOOKUP_PARAMS,
    TRANSLATE_PARAMS,
    VALIDATE_VS_PARAMS,
    TerminologyService,
    from_query,
    load_content,
    local_system,
)

from common import fresh_pg_database, machine, median, percentile, pg_available, save

VS = "https://healthbrain.dev/fhir/ValueSet"
CTX = system_context()


def _timed(call: Callable[[], Any], n: int) -> dict[str, float]:
    call()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(median(times), 3), "p95_ms": round(percentile(times, 95), 3)}


def _service(url: str) -> tuple[TerminologyService, float]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    load_content(FhirRepository(engine, validate=False), CTX, shipped_resources([]))
    service = TerminologyService(FhirRepository(engine, audit=MemoryAuditSink()))
    t = time.perf_counter()
    service.load()
    return service, time.perf_counter() - t


def operation_latency(service: TerminologyService, calls: int) -> dict[str, Any]:
    def q(allowed: frozenset[str], **kw: str) -> Any:
        return from_query("$op", list(kw.items()), allowed)

    ops = {
        "expand_icd10_filter_count20": lambda: service.expand(
            CTX, q(EXPAND_PARAMS, url=f"{VS}/icd-10", filter="diabetes", count="20")
        ),
        "expand_icd10_chinese_filter": lambda: service.expand(
            CTX, q(EXPAND_PARAMS, url=f"{VS}/icd-10", filter="高血压", count="20")
        ),
        "expand_icd10_page_offset_5000": lambda: service.expand(
            CTX, q(EXPAND_PARAMS, url=f"{VS}/icd-10", count="100", offset="5000")
        ),
        "expand_lab_tests": lambda: service.expand(CTX, q(EXPAND_PARAMS, url=f"{VS}/lab-tests")),
        "validate_code_icd10_vs": lambda: service.validate_value_set(
            CTX, q(VALIDATE_VS_PARAMS, url=f"{VS}/icd-10", system=ICD10, code="E11.9")
        ),
        "lookup_icd10": lambda: service.lookup(CTX, q(LOOKUP_PARAMS, system=ICD10, code="I10")),
        "translate_local_lab": lambda: service.translate(
            CTX, q(TRANSLATE_PARAMS, system=local_system("kecheng-rmyy", "lab"), code="GLU")
        ),
        "translate_reverse_loinc": lambda: service.translate(
            CTX, q(TRANSLATE_PARAMS, system=LOINC, code="14749-6", reverse="true")
        ),
    }
    out = {name: _timed(call, calls) for name, call in ops.items()}
    cold = []
    for _ in range(5):
        service.cache = type(service.cache)()  # a new index generation empties the cache the same way
        t = time.perf_counter()
        ops["expand_icd10_filter_count20"]()
        cold.append((time.perf_counter() - t) * 1000)
    out["expand_icd10_cold_first_call"] = {"median_ms": round(median(cold), 1)}
    return out


def http_latency(url: str, calls: int, tmp: Path) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from healthbrain.api.app import create_app
    from healthbrain.core.settings import Settings

    settings = Settings(database_url=url, export_dir=str(tmp / "export"))
    with TestClient(create_app(settings)) as client:
        client.headers.update({"Authorization": "Bearer dev-token"})
        expand = {"url": f"{VS}/icd-10", "filter": "diabetes", "count": "20"}
        translate = {"system": local_system("kecheng-rmyy", "lab"), "code": "GLU"}
        return {
            "expand_icd10_filter_count20": _timed(
                lambda: client.get("/fhir/R4/ValueSet/$expand", params=expand), calls
            ),
            "translate_local_lab": _timed(
                lambda: client.get("/fhir/R4/ConceptMap/$translate", params=translate), calls
            ),
        }


def lab_export(rows: int) -> bytes:
    """The example lab export scaled up: every copy gets new specimens and patients."""
    text = example_path("lab-results.csv").read_text(encoding="utf-8-sig")
    records = list(csv.reader(io.StringIO(text)))
    header, body = records[0], records[1:]
    out = [header]
    copy_no = 0
    while len(out) - 1 < rows:
        for r in body:
            row = list(r)
            row[0] = f"{int(row[0]) + copy_no * 10_000:010d}"
            row[1] = f"{row[1]}-{copy_no % 400}"
            out.append(row)
            if len(out) - 1 >= rows:
                break
        copy_no += 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(out)
    return buf.getvalue().encode("utf-8-sig")


def csv_rate(url: str, path: Path) -> dict[str, float]:
    service, _ = _service(url)
    spec = load_spec(example_path("lab-results.yaml"))
    summary = ingest_table(
        service.repo, CTX, path, spec, codes=TerminologyCodes(service), sightings=review_sightings(service)
    )
    assert not summary.errors, summary.errors[:3]
    service.repo.engine.dispose()
    return {"rows": summary.rows, "seconds": summary.seconds, "rows_per_s": summary.rows / summary.seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "calls": args.calls, "rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'terms.db'}"
        service, build = _service(url)
        result["index_build_s"] = round(build, 3)
        result["service"] = operation_latency(service, args.calls)
        service.repo.engine.dispose()
        result["http"] = http_latency(url, max(args.calls // 3, 20), tmp)
        export = tmp / "lab.csv"
        export.write_bytes(lab_export(args.rows))
        sqlite_runs = [csv_rate(f"sqlite:///{tmp / f'csv{i}.db'}", export) for i in range(args.runs)]
        result["csv_sqlite_rows_per_s"] = round(median([r["rows_per_s"] for r in sqlite_runs]), 1)
        if pg_available():
            pg_runs = [csv_rate(fresh_pg_database(f"hb_bench_terms_{i}"), export) for i in range(args.runs)]
            result["csv_postgres_rows_per_s"] = round(median([r["rows_per_s"] for r in pg_runs]), 1)
    print(save("terminology", copy.deepcopy(result)))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
