"""Compile the official R4 SearchParameter bundle into the compact registry HealthBrain ships.

Usage: python tools/build_searchparams.py ../shared/data/fhir/r4-examples/Bundle-searchParams.json
The source is CC0 (HL7 FHIR R4 4.0.1 package); the output keeps only what a server needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

OUT = Path(__file__).resolve().parents[1] / "src/healthbrain/fhir/data/search_parameters.json"


def main(src: str) -> None:
    bundle = orjson.loads(Path(src).read_bytes())
    by_url = {e["resource"]["url"]: e["resource"] for e in bundle["entry"]}
    out = []
    for entry in bundle["entry"]:
        sp = entry["resource"]
        item: dict[str, object] = {
            "url": sp["url"],
            "code": sp["code"],
            "base": sp["base"],
            "type": sp["type"],
            "expression": sp.get("expression"),
        }
        if sp.get("target"):
            item["target"] = sp["target"]
        if sp.get("component"):
            item["component"] = [
                {
                    "code": by_url[c["definition"]]["code"],
                    "type": by_url[c["definition"]]["type"],
                    "expression": c["expression"],
                }
                for c in sp["component"]
                if c["definition"] in by_url
            ]
        out.append(item)
    OUT.write_bytes(
        orjson.dumps(
            {"source": "HL7 FHIR R4 4.0.1 SearchParameter definitions (CC0)", "parameters": out},
            option=orjson.OPT_INDENT_2,
        )
    )
    print(f"{len(out)} parameters -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
