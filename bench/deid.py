"""De-identification benchmark: k-anonymity on a simulated region, and the approved export end to end.

Part 1 (the algorithm): the quasi-identifiers of every Patient record of a simulated region
(`--patients` residents; each institution's record counts, duplicates included) made k-anonymous
for k = 2, 5, 10, 20 over two declared sets; median time over `--runs`, records suppressed, the
generalisation chosen, the residual risk. Anchor: the same search without the lattice pruning (every
level combination evaluated), i.e. what the pruning saves.
Part 2 (end to end, SQLite): the region ingested with the security services as the app wires them,
permit Consents for research granted to `--consent-share` of the records, a request approved at the
three levels, then the export run through the repository (policy and audit on every page); median
wall time over `--runs` exports, patients released and suppressed, resources written.

    .venv/bin/python bench/deid.py [--patients 3000] [--runs 5] [--skip-export]
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from healthbrain.api.governance_routes import RepositorySource
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.security import SecurityServices
from healthbrain.security.approvals import DataUseApprovals
from healthbrain.security.deid import QuasiValues, quasi_values
from healthbrain.security.deid_export import DeidExporter
from healthbrain.security.deid_kanon import QUASI_IDENTIFIERS, anonymize
from healthbrain.simulation import RegionConfig, simulate_region, write_region
from healthbrain.storage.migrate import upgrade_database

from common import machine, median, save

QI_SETS = (("age", "gender", "region"), ("age", "gender", "region", "id_area"))
KS = (2, 5, 10, 20)
SUPPRESSION = 0.05
YEAR = 2026


def full_lattice(records: list[QuasiValues], qis: tuple[str, ...], k: int) -> float:
    """The anchor: every level combination evaluated, no pruning (seconds)."""
    started = time.perf_counter()
    hierarchies = [QUASI_IDENTIFIERS[q] for q in qis]
    budget = int(SUPPRESSION * len(records))
    for node in itertools.product(*(range(len(h.levels)) for h in hierarchies)):
        keys = Counter(
            tuple(h.generalise(r, lv, YEAR)[0] for h, lv in zip(hierarchies, node, strict=True))
            for r in records
        )
        _ = sum(c for c in keys.values() if c < k) <= budget
    return time.perf_counter() - started


def bench_algorithm(patients: int, runs: int) -> list[dict[str, Any]]:
    region = simulate_region(RegionConfig(patients=patients, seed=42))
    records = [quasi_values(r) for r in region.resources() if r["resourceType"] == "Patient"]
    rows = []
    for qis in QI_SETS:
        for k in KS:
            times, result = [], None
            for _ in range(runs):
                started = time.perf_counter()
                result = anonymize(records, qis, k=k, max_suppression=SUPPRESSION, reference_year=YEAR)
                times.append(time.perf_counter() - started)
            assert result is not None
            rep = result.report
            row = {
                "quasi_identifiers": list(qis),
                "k": k,
                "records": len(records),
                "seconds_median": round(median(times), 4),
                "full_lattice_seconds": round(full_lattice(records, qis, k), 4),
                "nodes_evaluated": rep.nodes_evaluated,
                "suppressed": rep.suppressed,
                "suppressed_share": round(rep.suppressed / len(records), 4),
                "classes": rep.classes,
                "smallest_class": rep.smallest_class,
                "max_risk": rep.max_risk,
                "average_risk": rep.average_risk,
                "generalisation": rep.generalisation,
            }
            print(row)
            rows.append(row)
    return rows


def person(pid: str, roles: set[str], org: str, purpose: PurposeOfUse) -> RequestContext:
    return RequestContext(
        Principal(pid, "user", frozenset(roles), org, frozenset({"user/*.*"}), mfa=True), purpose
    )


def bench_export(patients: int, runs: int, share: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hb-deid-"))
    engine = create_db_engine(f"sqlite:///{tmp / 'region.db'}")
    upgrade_database(engine)
    write_region(RegionConfig(patients=patients, seed=42), tmp / "sim")
    security = SecurityServices.build(engine, SecuritySettings())
    loader = FhirRepository(engine, validate=False, labeler=security.labeler, protector=security.protector)
    started = time.perf_counter()
    summary = ingest_path(loader, system_context(), tmp / "sim")
    ingest_seconds = time.perf_counter() - started
    repo = FhirRepository(engine, **security.repository_options(), validate=False)
    system = system_context()
    ids = [p["id"] for p in RepositorySource(repo).search(system, "Patient", [("_count", "1000")])]
    rng = random.Random(7)
    chosen = [pid for pid in ids if rng.random() < share]
    for pid in chosen:
        repo.create(
            system,
            {
                "resourceType": "Consent",
                "status": "active",
                "scope": {"coding": [{"code": "research"}]},
                "category": [{"coding": [{"code": "59284-0"}]}],
                "patient": {"reference": f"Patient/{pid}"},
                "provision": {"type": "permit", "purpose": [{"code": "HRESCH"}]},
            },
        )
    approvals = DataUseApprovals(engine, security.orgs, security.audit)
    exporter = DeidExporter(engine, security.keys, security.orgs, approvals, security.audit, tmp / "export")
    hospital = "kecheng-rmyy"
    scientist = person("sci", {"data-scientist"}, hospital, PurposeOfUse.RESEARCH)
    spec = {
        "resource_types": ["Encounter", "Condition", "Observation", "MedicationRequest"],
        "k": 5,
        "quasi_identifiers": ["age", "gender", "region"],
        "max_suppression": SUPPRESSION,
    }
    request = approvals.submit(scientist, PurposeOfUse.RESEARCH, "区域慢病队列研究（基准测试）", spec)
    for who, roles, org in (
        ("adm", "institution-admin", hospital),
        ("off", "regional-officer", "adm-330802"),
        ("sup", "provincial-supervisor", "adm-330000"),
    ):
        approvals.decide(person(who, {roles}, org, PurposeOfUse.OPERATIONS), request.id, True, "同意")
    source = RepositorySource(repo)
    times, run = [], None
    for _ in range(runs):
        started = time.perf_counter()
        run = exporter.run(scientist, request.id, source)
        times.append(time.perf_counter() - started)
    security.audit.flush()
    assert run is not None and run.report is not None
    result = {
        "patients_simulated": patients,
        "resources_ingested": sum(summary.resources.values()),
        "ingest_seconds": round(ingest_seconds, 1),
        "patient_records": len(ids),
        "consented": len(chosen),
        "export_seconds_median": round(median(times), 2),
        "runs": runs,
        "released": run.released,
        "suppressed": run.report["inclusion"]["suppressed"],
        "files": run.files,
        "risk": {
            k: run.report["k_anonymity"][k]
            for k in ("k", "generalisation", "smallest_class", "max_risk", "average_risk")
        },
    }
    print(result)
    engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--consent-share", type=float, default=0.7)
    ap.add_argument("--skip-export", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": machine(), "algorithm": bench_algorithm(args.patients, args.runs)}
    if not args.skip_export:
        out["export"] = bench_export(args.patients, max(1, min(args.runs, 3)), args.consent_share)
    print(save("deid", out))


if __name__ == "__main__":
    main()
