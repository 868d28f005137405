"""Conformance: every official R4 example that is valid R4B is stored, read back equal and found by _id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from healthbrain.core.context import system_context
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.validation import is_valid_r4b

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir" / "r4-examples"
CTX = system_context()


def strip_meta(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = {k: v for k, v in (out.pop("meta", None) or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def load_examples() -> list[tuple[str, dict[str, Any]]]:
    skip = {"Bundle-searchParams.json", "package.json"}
    return [
        (p.name, orjson.loads(p.read_bytes())) for p in sorted(EXAMPLES.glob("*.json")) if p.name not in skip
    ]


def test_every_valid_example_round_trips(repo: FhirRepository) -> None:
    examples = load_examples()
    assert len(examples) == 708
    valid = [(name, res) for name, res in examples if is_valid_r4b(res)]
    assert len(valid) >= 690
    failures: list[str] = []
    for name, res in valid:
        rt, rid = res["resourceType"], res["id"]
        try:
            repo.update(CTX, rt, rid, dict(res))
            back = repo.read(CTX, rt, rid).resource
            assert back is not None
            if strip_meta(back) != strip_meta(res):
                failures.append(f"{name}: content differs after read-back")
            found = run_search(repo, CTX, rt, [("_id", rid)])
            if [m["id"] for m in found.matches] != [rid]:
                failures.append(f"{name}: not found by _id")
        except Exception as exc:  # collect every failure, report them all at once
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    assert failures == []
