"""`_summary` and `_elements`: the subsetted views of a resource.

See: https://hl7.org/fhir/R4/search.html#summary and #elements
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS = ("resourceType", "id", "meta")


def _mark(res: dict[str, Any]) -> dict[str, Any]:
    meta = dict(res.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    res["meta"] = meta
    return res


def apply_elements(resource: dict[str, Any], elements: Sequence[str]) -> dict[str, Any]:
    """Keep only the named top-level elements (plus id, meta, resourceType); choice names match value[x]."""
    wanted = set(elements)
    out = {
        k: v
        for k, v in resource.items()
        if k in ALWAYS or k in wanted or any(k.startswith(w) and k[len(w) :][:1].isupper() for w in wanted)
    }
    return _mark(out)


def apply_summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """`text`: text + mandatory ids; `data`: everything but text; `true`: summary elements.

    The summary element list comes from the R4B models' `summary_element_property` flags.
    """
    if mode == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"})
    if mode == "text":
        return _mark({k: v for k, v in resource.items() if k in (*ALWAYS, "text")})
    keep = summary_elements(str(resource.get("resourceType")))
    return _mark(
        {
            k: v
            for k, v in resource.items()
            if k in ALWAYS or k in keep or any(k.startswith(e) and k[len(e) :][:1].isupper() for e in keep)
        }
    )


_CACHE: dict[str, frozenset[str]] = {}


def summary_elements(rt: str) -> frozenset[str]:
    """Names of the elements of a resource type marked as summary in the R4B models."""
    if rt in _CACHE:
        return _CACHE[rt]
    names: set[str] = set()
    try:
        from fhir.resources.R4B import get_fhir_model_class

        model = get_fhir_model_class(rt)
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if extra.get("summary_element_property"):
                names.add(info.alias or name)
    except (KeyError, ValueError, AttributeError):
        names = set()
    _CACHE[rt] = frozenset(names)
    return _CACHE[rt]
