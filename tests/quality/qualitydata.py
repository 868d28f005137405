"""Helpers of the data-quality tests: the arrival time of simulated records, copies, codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from healthbrain.core.context import system_context
from healthbrain.ingest import ingest_path
from healthbrain.ingest.quarantine import open_quarantine
from healthbrain.simulation import RegionConfig, simulate_region

# The simulated year is 2025; records are taken to arrive in March 2026 (after every stay ended).
ARRIVAL = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


def copy(resource: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(orjson.dumps(resource))
    return value


def loinc(resource: dict[str, Any]) -> str | None:
    for c in (resource.get("code") or {}).get("coding") or ():
        if c.get("system") == "http://loinc.org":
            return str(c["code"])
    return None


def write_region_files(directory: Any, shared: Any, institutions: dict[str, list[dict[str, Any]]]) -> None:
    """The region as the simulator writes it: the shared resources, then one Bundle per institution."""
    from healthbrain.simulation.writer import transaction_bundle, transaction_entry

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "00-region.json").write_bytes(
        transaction_bundle("region", [transaction_entry(r) for r in shared])
    )
    for inst, resources in sorted(institutions.items()):
        if resources:
            name = f"10-{inst}-0001"
            (directory / f"{name}.json").write_bytes(
                transaction_bundle(name, [transaction_entry(r) for r in resources])
            )


def load_noisy_region(repo: Any, directory: Path) -> tuple[int, set[str]]:
    """Ingest a 40-patient region with noise and duplicates through the quarantine: (entries held,
    record references the simulator registered twice)."""
    region = simulate_region(RegionConfig(patients=40, seed=41, noise_rate=0.3, duplicate_rate=0.2))
    write_region_files(directory, region.shared, {k: list(v) for k, v in region.institutions.items()})
    summary = ingest_path(repo, system_context(), directory, quarantine=open_quarantine(repo))
    dups = {e.record for e in region.ground_truth.errors if e.kind == "duplicate_record"}
    return summary.quarantined, dups
