"""Small pure helpers over FHIR resource JSON: ids, meta, timestamps, references."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def new_id() -> str:
    """A server-assigned id: a time-ordered UUID (version 7, RFC 9562).

    Ids that grow with time land at the right edge of every index keyed by id, so a bulk load
    appends instead of touching a random page of each index for every resource (random v4 ids made
    ingest slow down as the store grew).
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def instant(ts: float) -> str:
    """An epoch timestamp as a FHIR instant in UTC with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str) -> float:
    """A FHIR instant/dateTime (with zone) as epoch seconds; raises ValueError."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def etag(version_id: int) -> str:
    return f'W/"{version_id}"'


def parse_etag(value: str) -> int | None:
    """`W/"3"` or `"3"` or `3` → 3; anything else → None."""
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    return int(v) if v.isdigit() else None


def stamp(resource: dict[str, Any], res_id: str, version_id: int, ts: float) -> dict[str, Any]:
    """Set id and meta.versionId/lastUpdated (keeping the rest of meta)."""
    resource["id"] = res_id
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(ts)
    resource["meta"] = meta
    return resource


def without_version_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy without meta.versionId/lastUpdated (for change detection)."""
    out = dict(resource)
    meta = dict(out.get("meta") or {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


def dumps(resource: dict[str, Any]) -> str:
    return orjson.dumps(resource).decode()


def loads(text: str | bytes) -> dict[str, Any]:
    value = orjson.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def iter_references(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict with a string `reference` key, anywhere in the resource (contained excluded)."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield node
        for key, value in node.items():
            if key != "contained" and isinstance(value, dict | list):
                yield from iter_references(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                yield from iter_references(item)


def rewrite_references(resource: dict[str, Any], rewrite: Callable[[str], str | None]) -> None:
    """Replace each reference string for which `rewrite` returns a new value."""
    for ref in iter_references(resource):
        new = rewrite(ref["reference"])
        if new is not None:
            ref["reference"] = new


def split_reference(ref: str) -> tuple[str, str] | None:
    """`Patient/1` or `Patient/1/_history/2` → (Patient, 1); other forms → None."""
    parts = ref.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2 and parts[0][:1].isupper() and ID_RE.match(parts[1]):
        return parts[0], parts[1]
    return None
