"""ValueSet operations: $expand (filter, count/offset, languages) and $validate-code (pure functions).

See: https://hl7.org/fhir/R4/valueset-operation-expand.html and valueset-operation-validate-code.html.
Implicit value sets of a code system (`<system>?fhir_vs`, `?fhir_vs=isa/<code>`) are understood, see
https://hl7.org/fhir/R4/codesystem.html#implicit.
"""

from __future__ import annotations

import uuid
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue, NotFound
from healthbrain.terminology.codesystem_ops import check_concept, validation_result
from healthbrain.terminology.expansion import Expansion, ExpansionCache, Item, expand_entry, text_filter
from healthbrain.terminology.index import Snapshot
from healthbrain.terminology.model import ComposePart, Filter, ValueSetEntry, parse_value_set
from healthbrain.terminology.output import ExpansionTooLarge, designation_json, names_match
from healthbrain.terminology.params import OpParams, coding_input

EXPAND_PARAMS = frozenset(
    {
        "url",
        "valueSet",
        "valueSetVersion",
        "context",
        "contextDirection",
        "filter",
        "date",
        "offset",
        "count",
        "includeDesignations",
        "designation",
        "includeDefinition",
        "activeOnly",
        "excludeNested",
        "excludeNotForUI",
        "excludePostCoordinated",
        "displayLanguage",
        "exclude-system",
        "system-version",
        "check-system-version",
        "force-system-version",
    }
)
VALIDATE_VS_PARAMS = frozenset(
    {
        "url",
        "context",
        "valueSet",
        "valueSetVersion",
        "code",
        "system",
        "systemVersion",
        "display",
        "coding",
        "codeableConcept",
        "date",
        "abstract",
        "displayLanguage",
    }
)
DEFAULT_MAX_EXPANSION = 10_000


def implicit_value_set(url: str) -> ValueSetEntry | None:
    """The value set a `<system>?fhir_vs[=isa/<code>]` url stands for, None for another url."""
    base, sep, query = url.partition("?")
    if not sep or not query.startswith("fhir_vs"):
        return None
    _, _, rule = query.partition("=")
    filters: tuple[Filter, ...] = ()
    if rule.startswith("isa/"):
        filters = (Filter("concept", "is-a", rule[4:]),)
    elif rule:
        return None
    return ValueSetEntry(None, url, None, None, None, (ComposePart(base, None, (), filters, ()),), (), None)


def resolve_value_set(
    snapshot: Snapshot, params: OpParams, vs: ValueSetEntry | None
) -> tuple[ValueSetEntry, bool]:
    """The value set an operation is about (instance, url or inline) and whether it may be cached."""
    if vs is not None:
        return vs, True
    url = params.text("url") or params.text("context")
    inline = params.complex("valueSet")
    if inline is not None:
        resource, where = inline
        if resource.get("resourceType") != "ValueSet":
            raise InvalidInput(
                "valueSet must be a ValueSet resource",
                code="terminology.invalid_parameter",
                issues=[Issue("error", "invalid", "not a ValueSet", where)],
            )
        return parse_value_set(resource), False
    if url is None:
        raise InvalidInput(
            "the value set is required: url, valueSet, or call the operation on a ValueSet instance",
            issues=[Issue("error", "required", "url or valueSet is required", "url")],
            code="terminology.missing_parameter",
        )
    implicit = implicit_value_set(url)
    if implicit is not None:
        return implicit, True
    found = snapshot.value_set(url, params.text("valueSetVersion"))
    if found is None:
        message = f"the value set {url} is not known to this server"
        raise NotFound(
            message,
            issues=[Issue("error", "not-found", message, "url")],
            code="terminology.unknown_value_set",
        )
    return found, True


def full_expansion(
    snapshot: Snapshot, cache: ExpansionCache, vs: ValueSetEntry, cacheable: bool
) -> Expansion:
    return cache.get(snapshot, vs) if cacheable else expand_entry(snapshot, vs)


def _contains(item: Item, language: str | None, designations: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"system": item.system}
    if item.version:
        out["version"] = item.version
    if item.abstract:
        out["abstract"] = True
    if item.inactive:
        out["inactive"] = True
    out["code"] = item.code
    display = item.display_in(language)
    if display:
        out["display"] = display
    if designations and item.designations:
        out["designation"] = [designation_json(d) for d in item.designations]
    return out


def expand(
    snapshot: Snapshot,
    cache: ExpansionCache,
    params: OpParams,
    vs: ValueSetEntry | None = None,
    *,
    now: str,
    max_expansion: int = DEFAULT_MAX_EXPANSION,
) -> dict[str, Any]:
    """$expand: the value set with `expansion.contains`, filtered by text and paged by count/offset."""
    entry, cacheable = resolve_value_set(snapshot, params, vs)
    full = full_expansion(snapshot, cache, entry, cacheable)
    items: list[Item] | tuple[Item, ...] = full.items
    if params.flag("activeOnly"):
        items = [i for i in items if not i.inactive]
    if params.flag("excludeNotForUI"):
        items = [i for i in items if not i.abstract]
    text = params.text("filter")
    if text:
        items = text_filter(items, text)
    offset = params.integer("offset") or 0
    count = params.integer("count")
    total = len(items)
    if count is None and total - offset > max_expansion:
        raise ExpansionTooLarge(
            f"the expansion has {total} codes, more than the {max_expansion} returned at once; "
            "page with count and offset",
            issues=[Issue("error", "too-costly", "expansion too large; use count and offset", "count")],
        )
    page = items[offset : offset + count] if count is not None else items[offset:]
    language = params.text("displayLanguage")
    echoed = [
        {"name": n, "valueString" if n in ("filter", "displayLanguage") else "valueInteger": v}
        for n, v in (
            ("filter", text),
            ("offset", offset if params.has("offset") else None),
            ("count", count),
            ("displayLanguage", language),
        )
        if v is not None
    ]
    expansion: dict[str, Any] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": now,
        "total": total,
        "offset": offset,
    }
    if echoed:
        expansion["parameter"] = echoed
    expansion["contains"] = [_contains(i, language, params.flag("includeDesignations")) for i in page]
    out: dict[str, Any] = {"resourceType": "ValueSet"}
    for key, value in (
        ("id", entry.resource_id),
        ("url", entry.url),
        ("version", entry.version),
        ("name", entry.name),
        ("title", entry.title),
    ):
        if value:
            out[key] = value
    out["status"] = "active"
    out["expansion"] = expansion
    return out


def validate_code(
    snapshot: Snapshot, cache: ExpansionCache, params: OpParams, vs: ValueSetEntry | None = None
) -> dict[str, Any]:
    """ValueSet/$validate-code: is the coding a member of the value set (and is its display right)?"""
    entry, cacheable = resolve_value_set(snapshot, params, vs)
    codings = coding_input(params)
    if not codings:
        raise InvalidInput(
            "$validate-code needs code (with system), coding or codeableConcept",
            issues=[Issue("error", "required", "code, coding or codeableConcept is required", "code")],
            code="terminology.missing_parameter",
        )
    full = full_expansion(snapshot, cache, entry, cacheable)
    language = params.text("displayLanguage")
    allow_abstract = params.flag("abstract", True)
    messages: list[str] = []
    for given, _where in codings:
        ok, message, display = _member(snapshot, full, given, allow_abstract, language)
        if ok:
            return validation_result(True, message, display)
        messages.append(message or "")
    return validation_result(False, "; ".join(m for m in messages if m))


def _member(
    snapshot: Snapshot, full: Expansion, given: dict[str, Any], allow_abstract: bool, language: str | None
) -> tuple[bool, str | None, str | None]:
    code, system = str(given["code"]), given.get("system")
    if system:
        item = full.members.get((system, code))
    else:  # a bare code: accepted when exactly one system of the value set has it
        hits = [i for (s, c), i in full.members.items() if c == code]
        item = hits[0] if len(hits) == 1 else None
    if item is None:
        where = f"{system}|{code}" if system else code
        return False, f"the code '{where}' is not in the value set", None
    cs = snapshot.code_system(item.system, item.version)
    if cs is not None and cs.get(code) is not None:
        return check_concept(cs, {**given, "code": code}, allow_abstract, language)
    shown = given.get("display")
    display = item.display_in(language)
    if (
        isinstance(shown, str)
        and shown.strip()
        and not names_match(shown, [item.display, *(d.value for d in item.designations)])
    ):
        return (
            False,
            f"the display '{shown}' is not a display of the code '{code}' (expected '{display}')",
            display,
        )
    return True, None, display
