"""Which entries of a Bundle are held back, and how both halves stay writable.

An entry failing a hard rule is held. So is every entry that refers to a held one, except a
back-reference (the held entry refers to it too, as an Encounter listing a Condition that names the
Encounter) when the held entry can be given its final id now: then the loaded entry keeps a plain
`Type/id` reference that the release will satisfy. Held entries get their references to loaded
entries rewritten to what those become after the write (`Type/id`, or the conditional `Type?query`
that will find them), so that a held entry can later be released on its own.
See: https://hl7.org/fhir/R4/bundle.html#references — urn:uuid references resolve within one Bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from healthbrain.fhir.resources import iter_references, split_reference
from healthbrain.quality.screening import entry_aliases


@dataclass(frozen=True, slots=True)
class HeldEntry:
    """One held entry: its request and resource as they will be released, and what holds it.

    Attributes:
        index: position in the original Bundle.
        own: whether it failed a hard rule itself (else it is held only with others).
        holders: indices of held entries of the same Bundle it depends on.
        external: quarantine ids of earlier held records it refers to.
    """

    index: int
    resource_type: str
    resource_id: str | None
    full_url: str | None
    request: dict[str, Any]
    resource: dict[str, Any]
    own: bool
    holders: tuple[int, ...]
    external: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HoldPlan:
    """The entries to write now (references adjusted) and the entries to hold."""

    load: list[dict[str, Any]]
    held: list[HeldEntry]


def _copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _request(entry: dict[str, Any]) -> dict[str, Any]:
    req = entry.get("request")
    return req if isinstance(req, dict) else {}


def _pinnable(entry: dict[str, Any]) -> bool:
    req = _request(entry)
    method, url = str(req.get("method", "")).upper(), str(req.get("url", ""))
    if method == "PUT":
        return "?" not in url
    return method == "POST" and not req.get("ifNoneExist")


def final_reference(entry: dict[str, Any]) -> str | None:
    """What refers to the entry once written: `Type/id`, or a conditional `Type?query`; None for a
    plain POST (its id is only known after the write)."""
    req = _request(entry)
    method, url = str(req.get("method", "")).upper(), str(req.get("url", ""))
    if method == "PUT":
        return url
    if method == "POST" and req.get("ifNoneExist"):
        return f"{url}?{req['ifNoneExist']}"
    return None


def _pin(entry: dict[str, Any], new_id: Callable[[], str]) -> str:
    """Turn a plain POST into a PUT with an id chosen now; returns its `Type/id`."""
    rt = entry["resource"]["resourceType"]
    rid = new_id()
    entry["resource"]["id"] = rid
    entry["request"] = {"method": "PUT", "url": f"{rt}/{rid}"}
    return f"{rt}/{rid}"


def _graph(
    entries: list[dict[str, Any]], external: Mapping[str, str]
) -> tuple[list[set[int]], list[set[str]]]:
    aliases = {a: i for i, e in enumerate(entries) for a in entry_aliases(e)}
    refs: list[set[int]] = [set() for _ in entries]
    ext: list[set[str]] = [set() for _ in entries]
    for i, entry in enumerate(entries):
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        for node in iter_references(res):
            ref = node["reference"]
            j = aliases.get(ref)
            if j is not None and j != i:
                refs[i].add(j)
            elif j is None and ref in external:
                ext[i].add(external[ref])
    return refs, ext


def _held_closure(
    entries: list[dict[str, Any]], seeds: set[int], refs: list[set[int]], ext: list[set[str]]
) -> tuple[set[int], list[set[int]]]:
    deps = [{j for j in refs[i] if not (i in refs[j] and _pinnable(entries[j]))} for i in range(len(entries))]
    held = set(seeds) | {i for i in range(len(entries)) if ext[i]}
    changed = True
    while changed:
        changed = False
        for i in range(len(entries)):
            if i not in held and deps[i] & held:
                held.add(i)
                changed = True
    return held, deps


def plan_holds(
    entries: list[dict[str, Any]],
    failing: set[int],
    new_id: Callable[[], str],
    external: Mapping[str, str] | None = None,
) -> HoldPlan:
    """Split a transaction's entries into those written now and those held.

    Args:
        entries: the Bundle's entries (not modified).
        failing: indices of entries that failed a hard rule.
        new_id: makes resource ids for entries whose id must be fixed now.
        external: literal references (`Type/id`) of records already held -> their quarantine id.
    """
    refs, ext = _graph(entries, external or {})
    held, deps = _held_closure(entries, failing, refs, ext)
    if not held:
        return HoldPlan(entries, [])
    work = {i: _copy(e) for i, e in enumerate(entries) if i in held or refs[i] & held}
    pinned: dict[int, str] = {}
    for i in sorted(held):
        if _pinnable(work[i]):
            req = _request(work[i])
            pinned[i] = str(req["url"]) if str(req.get("method")).upper() == "PUT" else _pin(work[i], new_id)
    finals: dict[int, str] = {}
    for i in sorted(held):
        for j in refs[i] - held:
            entry = work.setdefault(j, _copy(entries[j]))
            ref = final_reference(entry)
            finals[j] = ref if ref is not None else _pin(entry, new_id)
    for i, entry in work.items():
        targets = {a: j for j in refs[i] for a in entry_aliases(entries[j]) if split_reference(a) is None}
        for node in iter_references(entry.get("resource") or {}):
            target = targets.get(node["reference"])
            if target is None:
                continue
            if target in held and target in pinned:
                node["reference"] = pinned[target]
            elif target not in held and i in held:
                node["reference"] = finals[target]
    load = [work.get(i, e) for i, e in enumerate(entries) if i not in held]
    plan = [_held_entry(i, work[i], i in failing, deps[i] & held, ext[i]) for i in sorted(held)]
    return HoldPlan(load, plan)


def _held_entry(i: int, entry: dict[str, Any], own: bool, holders: set[int], ext: set[str]) -> HeldEntry:
    res = entry["resource"]
    req = _request(entry)
    url = str(req.get("url", ""))
    rid = url.split("/", 1)[1] if str(req.get("method")).upper() == "PUT" and "?" not in url else None
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    return HeldEntry(i, str(res["resourceType"]), rid, full_url, dict(req), res, own, tuple(sorted(holders)),
                     tuple(sorted(ext)))  # fmt: skip
