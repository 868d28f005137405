"""Build response Bundles: searchset, history, batch/transaction-response, and the self/next links."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from healthbrain.fhir.outcome import operation_outcome
from healthbrain.fhir.reading import HistoryResult, SearchResult
from healthbrain.fhir.resources import etag, instant, loads
from healthbrain.fhir.summary import apply_elements, apply_summary
from healthbrain.fhir.transaction import EntryResult


def _bundle(kind: str, now: float) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(now)},
        "type": kind,
    }


def searchset(result: SearchResult, base_url: str, rt: str, now: float) -> dict[str, Any]:
    """A searchset Bundle with self/next/previous links that carry the applied parameters."""
    req = result.request
    bundle = _bundle("searchset", now)
    if result.total is not None:
        bundle["total"] = result.total
    applied = [(k, v) for k, v in req.applied if k not in ("_offset",)]
    if not any(k == "_count" for k, _ in applied):
        applied.append(("_count", str(req.count)))

    def link(offset: int) -> str:
        return f"{base_url}/{rt}?" + urlencode([*applied, ("_offset", str(offset))])

    links = [{"relation": "self", "url": link(req.offset)}]
    if result.has_next:
        links.append({"relation": "next", "url": link(req.offset + req.count)})
    if req.offset > 0:
        links.append({"relation": "previous", "url": link(max(0, req.offset - req.count))})
    bundle["link"] = links
    entries: list[dict[str, Any]] = []
    for res in result.matches:
        entries.append(_search_entry(base_url, _shape(res, req.summary, req.elements), "match"))
    for res in result.included:
        entries.append(_search_entry(base_url, _shape(res, req.summary, req.elements), "include"))
    if req.warnings:
        entries.append({"resource": operation_outcome(req.warnings), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _shape(res: dict[str, Any], summary: str | None, elements: Sequence[str]) -> dict[str, Any]:
    if elements:
        return apply_elements(res, elements)
    if summary in ("true", "text", "data"):
        return apply_summary(res, summary)
    return res


def _search_entry(base_url: str, res: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{res['resourceType']}/{res['id']}",
        "resource": res,
        "search": {"mode": mode},
    }


def history(result: HistoryResult, base_url: str, path: str, now: float) -> dict[str, Any]:
    bundle = _bundle("history", now)
    if result.total is not None:
        bundle["total"] = result.total
    links = [{"relation": "self", "url": f"{base_url}/{path}?_count={result.count}&_offset={result.offset}"}]
    if result.has_next:
        links.append(
            {
                "relation": "next",
                "url": f"{base_url}/{path}?_count={result.count}&_offset={result.offset + result.count}",
            }
        )
    bundle["link"] = links
    entries = []
    for v in result.versions:
        entry: dict[str, Any] = {"fullUrl": f"{base_url}/{v.res_type}/{v.res_id}"}
        if v.content is not None:
            entry["resource"] = loads(v.content)
        method = v.method or ("DELETE" if v.deleted else "PUT")
        url = f"{v.res_type}" if method == "POST" else f"{v.res_type}/{v.res_id}"
        entry["request"] = {"method": "PUT" if method == "PATCH" else method, "url": url}
        status = "204 No Content" if v.deleted else ("201 Created" if v.version_id == 1 else "200 OK")
        entry["response"] = {
            "status": status,
            "etag": etag(v.version_id),
            "lastModified": instant(v.last_updated),
        }
        entries.append(entry)
    if entries:
        bundle["entry"] = entries
    return bundle


def response_bundle(kind: str, results: Sequence[EntryResult], base_url: str, now: float) -> dict[str, Any]:
    """batch-response or transaction-response, one entry per request in request order."""
    bundle = _bundle(kind, now)
    entries = []
    for r in results:
        response: dict[str, Any] = {"status": r.status}
        entry: dict[str, Any] = {"response": response}
        v = r.versioned
        if v is not None and v.version_id > 0:
            response["location"] = f"{v.resource_type}/{v.id}/_history/{v.version_id}"
            response["etag"] = etag(v.version_id)
            response["lastModified"] = instant(v.last_updated)
            entry["fullUrl"] = f"{base_url}/{v.resource_type}/{v.id}"
        if r.resource is not None:
            entry["resource"] = r.resource
        if r.outcome:
            response["outcome"] = operation_outcome(r.outcome)
        entries.append(entry)
    bundle["entry"] = entries
    return bundle


def collection(kind: str, resources: Sequence[dict[str, Any]], base_url: str, now: float) -> dict[str, Any]:
    """A simple searchset of resources (used by $everything)."""
    bundle = _bundle(kind, now)
    bundle["total"] = len(resources)
    bundle["entry"] = [_search_entry(base_url, r, "match") for r in resources]
    return bundle
