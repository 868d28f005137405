"""Writes a simulated region as FHIR transaction Bundles, one file per institution chunk, and ground truth."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthbrain.simulation.model import RegionConfig, RegionSummary
from healthbrain.simulation.simulate import Simulation, paused_gc

Progress = Callable[[int, int], None]

REGION_FILE = "00-region.json"
GROUND_TRUTH_FILE = "ground-truth.json"
# Files of an earlier run are removed first, or a smaller rerun would leave stale chunks for ingest.
_OWN_FILE = re.compile(r"^(00-region|10-[A-Za-z0-9.-]+-\d{4}|ground-truth)\.json$")
_PROGRESS_EVERY = 250


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def dump_json(document: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese kept readable); key order is insertion order, so output is stable."""
    return _encode(document).encode("utf-8")


def transaction_entry(resource: dict[str, Any]) -> str:
    """One Bundle entry as JSON text: a PUT, so re-ingesting the same file updates in place.

    Entries are encoded as soon as a resident is simulated so that chunk buffers hold compact
    strings instead of millions of dicts the garbage collector would keep traversing.
    See: https://hl7.org/fhir/R4/http.html#transaction
    """
    url = f"{resource['resourceType']}/{resource['id']}"
    return f'{{"resource":{_encode(resource)},"request":{{"method":"PUT","url":{_encode(url)}}}}}'


def transaction_bundle(bundle_id: str, entries: list[str]) -> bytes:
    """A transaction Bundle from encoded entries."""
    head = f'{{"resourceType":"Bundle","id":{_encode(bundle_id)},"type":"transaction","entry":['
    return (head + ",".join(entries) + "]}").encode("utf-8")


class _ChunkWriter:
    """Buffers each institution's resources and writes a Bundle whenever a chunk is full.

    A resident's resources at one institution are never split across chunks, so every chunk holds
    the Patient records its encounters and observations refer to.
    """

    def __init__(self, out_dir: Path, chunk_size: int) -> None:
        self.out_dir = out_dir
        self.chunk_size = chunk_size
        self.buffers: dict[str, list[str]] = {}
        self.chunks: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.files: list[Path] = []

    def add(self, institution: str, resources: list[dict[str, Any]]) -> None:
        buffer = self.buffers.setdefault(institution, [])
        if buffer and len(buffer) + len(resources) > self.chunk_size:
            self.flush(institution)
            buffer = self.buffers[institution]
        buffer.extend(transaction_entry(r) for r in resources)
        self.counts.update(r["resourceType"] for r in resources)

    def flush(self, institution: str) -> None:
        resources = self.buffers.get(institution)
        if not resources:
            return
        self.chunks[institution] += 1
        name = f"10-{institution}-{self.chunks[institution]:04d}"
        self.write(f"{name}.json", transaction_bundle(name, resources))
        self.buffers[institution] = []

    def write(self, name: str, content: bytes) -> None:
        path = self.out_dir / name
        path.write_bytes(content)
        self.files.append(path)

    def finish(self) -> tuple[dict[str, int], list[Path]]:
        """Write every partly filled chunk; return resource counts and files written."""
        for institution in sorted(self.buffers):
            self.flush(institution)
        return dict(self.counts), self.files


def _clear(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.is_file() and _OWN_FILE.match(old.name):
            old.unlink()


def write_region(config: RegionConfig, out_dir: Path, progress: Progress | None = None) -> RegionSummary:
    """Simulate a region and write it to `out_dir` as ingestible transaction Bundles.

    Writes `00-region.json` (organisations, locations, practitioners, roles), then per institution
    `10-<institution>-<nnnn>.json` chunks of at most `config.chunk_size` entries, and
    `ground-truth.json` (true person of every Patient record, injected errors, outbreaks, persons).
    Residents stream through, so memory stays bounded by the chunk buffers and the ground truth.
    The files are byte-identical for the same config.

    Args:
        config: what to simulate.
        out_dir: directory to write to; created if missing, earlier simulation files replaced.
        progress: called with (residents done, residents total) every few hundred residents.

    Returns:
        Resource counts per type, the Bundle files in ingest order and the number of residents.
    """
    _clear(out_dir)
    sim = Simulation(config)
    region_entries = [transaction_entry(r) for r in sim.layout.resources]
    (out_dir / REGION_FILE).write_bytes(transaction_bundle("region", region_entries))
    total = config.patients
    with paused_gc():
        writer = _ChunkWriter(out_dir, config.chunk_size)
        for done, resident in enumerate(sim.residents(), start=1):
            for institution, resources in resident.resources.items():
                writer.add(institution, resources)
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(done, total)
        counts, files = writer.finish()
        truth = {
            "seed": config.seed,
            "year": config.year,
            "patients": total,
            **sim.truth.to_json(sim.persons),
        }
        truth_path = out_dir / GROUND_TRUTH_FILE
        truth_path.write_bytes(dump_json(truth))
    all_counts = Counter(counts)
    all_counts.update(r["resourceType"] for r in sim.layout.resources)
    if progress is not None:
        progress(total, total)
    return RegionSummary(
        counts=dict(sorted(all_counts.items())),
        files=(out_dir / REGION_FILE, *sorted(files, key=lambda p: p.name)),
        persons=total,
        errors=len(sim.truth.errors),
        ground_truth=truth_path,
    )
