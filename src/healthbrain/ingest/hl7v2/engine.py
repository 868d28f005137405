"""Mapping one parsed message to a FHIR transaction Bundle (pure: no I/O).

Every rule instance gets a `urn:uuid` fullUrl, so resources of the message point at each other;
its key identifier becomes a conditional URL (`PUT Type?identifier=system|value` for upsert,
`POST` with `ifNoneExist` for create), so a re-sent message updates or matches instead of
duplicating. Two instances with the same key (the same doctor's order twice) become one entry.
"""

from __future__ import annotations

import hashlib
import re
import string
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from healthbrain.fhir.resources import rewrite_references
from healthbrain.ingest.hl7v2.errors import (
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE,
    UNSUPPORTED_EVENT,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_PROCESSING_ID,
    UNSUPPORTED_VERSION,
    Hl7Problem,
    Hl7Rejected,
    problem,
)
from healthbrain.ingest.hl7v2.message import Location, Message, Segment, value
from healthbrain.ingest.hl7v2.scope import Scope, is_segment_id, sending_facility
from healthbrain.ingest.hl7v2.spec import Catalog, MessageSpec, Rule
from healthbrain.ingest.hl7v2.structure import Group, build_tree

_NAMESPACE = uuid.UUID("6f1d3c1e-52a4-4c53-9b0e-6c2f3f0a7d11")
_NAMESPACE_BYTES = _NAMESPACE.bytes
# `quote(text, safe="")` for ASCII text: every character but letters, digits and "_.-~" as %XX.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "_.-~")
_PERCENT = {c: f"%{c:02X}" for c in range(128) if chr(c) not in _UNRESERVED}
_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")
_SPECIAL = re.compile(r"[\\|,$]")  # what a search value escapes
_QUOTED_SYSTEMS: dict[str, str] = {}
# The variant's hex digit: its two high bits set to 10 (RFC 4122 section 4.1.1).
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


@dataclass(frozen=True, slots=True)
class MappedEntry:
    """One Bundle entry and where it came from (for error locations and merge writes)."""

    rule: str
    anchor: Segment | Group
    write: str
    query: str | None

    @property
    def location(self) -> Location:
        """Where the entry's data starts in the message (worked out only for error reports)."""
        return _location(self.anchor)


@dataclass(frozen=True, slots=True)
class MappedMessage:
    """The transaction Bundle of a message and, entry by entry, its origin."""

    spec: str
    bundle: dict[str, Any]
    entries: tuple[MappedEntry, ...]


@dataclass(slots=True)
class _Instance:
    rule: Rule
    anchor: Segment | Group
    chain: tuple[Group, ...]
    position: int
    full_url: str
    resource: dict[str, Any] | None = None


def check_header(message: Message, catalog: Catalog) -> MessageSpec:
    """The spec for this message, or `Hl7Rejected` (AR) for an unsupported type, event or version."""
    conv = catalog.conventions
    problems: list[Hl7Problem] = []
    version = message.version
    if conv.versions and version not in conv.versions:
        problems.append(problem(UNSUPPORTED_VERSION, Location("MSH", 1, 12), "unsupported version id"))
    processing = message.header(11)
    if processing and conv.processing_ids and processing.upper() not in conv.processing_ids:
        problems.append(
            problem(UNSUPPORTED_PROCESSING_ID, Location("MSH", 1, 11), "unsupported processing id")
        )
    spec = catalog.spec_for(message.message_type, message.trigger_event)
    if spec is None:
        known = catalog.knows_type(message.message_type)
        problems.append(
            problem(
                UNSUPPORTED_EVENT if known else UNSUPPORTED_MESSAGE_TYPE,
                Location("MSH", 1, 9, None, 2 if known else None),
                "unsupported trigger event" if known else "unsupported message type",
            )
        )
    if problems or spec is None:
        raise Hl7Rejected(problems)
    return spec


def check_required(message: Message, spec: MessageSpec) -> None:
    """Required segments present and required fields sent in every occurrence (AE 100/101)."""
    problems: list[Hl7Problem] = []
    by_name: dict[str, list[Segment]] = {}
    for seg in message.segments:
        by_name.setdefault(seg.name, []).append(seg)
    for name in spec.required_segments:
        if name not in by_name:
            problems.append(problem(SEGMENT_SEQUENCE, Location(name), f"required segment {name} is missing"))
    for req in spec.required_fields:
        path = req.path
        for seg in by_name.get(path.segment, ()):
            if req.unless and _excused(message, seg, req.unless):
                continue
            if not _sent(message, seg, path.field, path.comp):
                where = Location(seg.name, seg.sequence, path.field, None, path.comp)
                problems.append(problem(REQUIRED_FIELD_MISSING, where, f"{path} is required"))
    if problems:
        raise Hl7Rejected(problems)


def _excused(message: Message, seg: Segment, unless: tuple[tuple[Any, frozenset[str]], ...]) -> bool:
    """The segment holds one of the values that waive a required field (`unless`)."""
    for c, allowed in unless:  # noqa: SIM110 - a loop: any() over a generator costs more per segment
        if value(message, seg, c.field, 1, c.comp or 1) in allowed:
            return True
    return False


def _sent(message: Message, seg: Segment, field: int, comp: int | None) -> bool:
    raw = seg.raw(field).strip()
    if comp is None:
        return bool(raw.strip(message.delimiters.component + message.delimiters.subcomponent))
    return bool(value(message, seg, field, 1, comp))


def map_message(message: Message, catalog: Catalog) -> MappedMessage:
    """The transaction Bundle for `message`; raises `Hl7Rejected` listing every problem found."""
    spec = check_header(message, catalog)
    check_required(message, spec)
    root = build_tree(spec.structure, message.segments)
    problems: list[Hl7Problem] = []
    shared: tuple[str, dict[str, Any], dict[Any, Any]] = (sending_facility(message), {}, {})
    instances = _instances(message, catalog, spec, root, problems, shared)
    by_rule: dict[str, list[_Instance]] = {}
    for inst in instances:
        by_rule.setdefault(inst.rule.name, []).append(inst)

    def find_refs(scope: Scope, rule: str, every: bool) -> list[str]:
        return _find_refs(by_rule.get(rule, []), scope, every)

    scope = _scope(message, catalog, find_refs, problems, shared)
    for inst in instances:
        built = inst.rule.build(_enter(scope, inst.anchor, inst.chain, inst.position))
        inst.resource = built if isinstance(built, dict) else {"resourceType": inst.rule.resource_type}
    if problems:
        raise Hl7Rejected(problems)
    return _bundle(spec, message, instances)


def _scope(
    message: Message, catalog: Catalog, find_refs: Any, problems: list[Hl7Problem], shared: Any
) -> Scope:
    """One scope per message, re-entered for each rule instance (see `_enter`)."""
    facility, cache, memo = shared
    return Scope(
        message, catalog.conventions, (), find_refs, problems, facility=facility, cache=cache, memo=memo
    )


def _enter(scope: Scope, anchor: Segment | Group, chain: tuple[Group, ...], position: int) -> Scope:
    """The scope set to a rule instance: its chain of groups, its anchor segment bound.

    The bindings are reset in place (`$each` saves copies and restores them by assignment, so no
    one else holds these dictionaries)."""
    scope.chain = chain
    bound = scope.bound
    bound.clear()
    if isinstance(anchor, Segment):
        bound[anchor.name] = anchor
    if scope.reps:
        scope.reps.clear()
    scope.position = position
    return scope


def _instances(
    message: Message,
    catalog: Catalog,
    spec: MessageSpec,
    root: Group,
    problems: list[Hl7Problem],
    shared: Any,
) -> list[_Instance]:
    out: list[_Instance] = []
    segments, groups = _anchors(root)
    prefix = f"{message.header(3)}|{message.header(4)}|{message.control_id}|"
    # Every seed starts with the namespace and the message's prefix: hashed once, copied per seed.
    hashed = hashlib.sha1(_NAMESPACE_BYTES + prefix.encode("utf-8"))
    probe = _scope(message, catalog, lambda *_a: [], problems, shared)
    for rule in spec.rules:
        anchors = (segments if is_segment_id(rule.anchor) else groups).get(rule.anchor, [])
        if not rule.each:
            anchors = anchors[:1]
        for position, (anchor, chain) in enumerate(anchors, start=1):
            if rule.when is not None and not rule.when(_enter(probe, anchor, chain, position)):
                continue
            seed = hashed.copy()
            seed.update(f"{rule.name}|{position}".encode())
            out.append(_Instance(rule, anchor, chain, position, f"urn:uuid:{_uuid5_text(seed.digest())}"))
    return out


def name_uuid(name: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, name))`, without building UUID objects (RFC 4122 section 4.3)."""
    return _uuid5_text(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest())


def _uuid5_text(digest: bytes) -> str:
    """The UUID text of a SHA-1 name digest: its first 16 bytes with the version 5 and RFC 4122
    variant bits set."""
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


Anchors = dict[str, list[tuple[Segment | Group, tuple[Group, ...]]]]


def _anchors(root: Group) -> tuple[Anchors, Anchors]:
    """Every segment and every group instance by name, in message order, with its chain of groups.

    One walk gives what `walk_segments(root, name, (root,))` and `walk_groups(...)` give per name.
    """
    segments: Anchors = {}
    groups: Anchors = {}

    def walk(group: Group, chain: tuple[Group, ...]) -> None:
        for child in group.children:
            if isinstance(child, Segment):
                segments.setdefault(child.name, []).append((child, chain))
            else:
                here = (*chain, child)
                groups.setdefault(child.name, []).append((child, here))
                walk(child, here)

    walk(root, (root,))
    return segments, groups


def _find_refs(candidates: list[_Instance], scope: Scope, every: bool) -> list[str]:
    """`$refs`: the rule's instances inside the scope; `$ref`: the nearest instance."""
    if every:
        here = scope.chain[-1]
        return [i.full_url for i in candidates if any(g is here for g in i.chain) or i.anchor is here]
    if not candidates:
        return []
    if len(candidates) == 1:
        return [candidates[0].full_url]
    # The first of the instances sharing the most groups with the scope.
    best, most, chain = candidates[0], -1, scope.chain
    for inst in candidates:
        n = 0
        for a, b in zip(inst.chain, chain, strict=False):
            if a is not b:
                break
            n += 1
        if n > most:
            best, most = inst, n
    return [best.full_url]


def _key_identifier(resource: dict[str, Any], rule: Rule) -> dict[str, Any] | None:
    found = resource.get(rule.key)
    if isinstance(found, dict):
        return found if found.get("value") else None
    if not isinstance(found, list):
        return None
    if len(found) == 1:  # the common case: whatever its type and system, the only one there is
        only = found[0]
        return only if isinstance(only, dict) and only.get("value") else None
    usable = [i for i in found if isinstance(i, dict) and i.get("value")]
    typed = [ident for ident in usable if ident.get("type")]  # the others match no type
    codes: dict[int, list[Any]] = {}  # type codes by identifier, read once
    for kind in rule.key_types if typed else ():
        for n, ident in enumerate(typed):
            if n not in codes:
                codes[n] = [c.get("code") for c in ident["type"].get("coding", [])]
            if kind in codes[n] and ident.get("system"):
                return ident
    with_system = [i for i in usable if i.get("system")]
    best = with_system or usable
    return best[0] if best else None


def _escape(text: str) -> str:
    # See: https://hl7.org/fhir/R4/search.html#escaping
    if not _SPECIAL.search(text):
        return text
    return text.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


def identifier_query(ident: dict[str, Any]) -> str:
    """`identifier=system|value`, escaped and URL-encoded."""
    system = str(ident.get("system", ""))
    # Escaping and quoting work character by character, so the (recurring) system is done once.
    quoted = _QUOTED_SYSTEMS.get(system)
    if quoted is None:
        if len(_QUOTED_SYSTEMS) > 10_000:  # bounded: senders may send endless distinct systems
            _QUOTED_SYSTEMS.clear()
        quoted = _QUOTED_SYSTEMS[system] = _quote(_escape(system))
    return f"identifier={quoted}%7C{_quote(_escape(str(ident['value'])))}"


def _quote(text: str) -> str:
    """`urllib.parse.quote(text, safe="")`, fast for ASCII text."""
    if not text.isascii():
        return quote(text, safe="")
    if _SAFE.fullmatch(text):
        return text
    return text.translate(_PERCENT)


def _location(anchor: Segment | Group) -> Location:
    if isinstance(anchor, Segment):
        return anchor.location()
    first = next((c for c in anchor.children if isinstance(c, Segment)), None)
    return first.location() if first is not None else Location(anchor.name)


def _bundle(spec: MessageSpec, message: Message, instances: list[_Instance]) -> MappedMessage:
    entries: list[dict[str, Any]] = []
    origins: list[MappedEntry] = []
    seen: dict[tuple[str, str], str] = {}
    alias: dict[str, str] = {}
    for inst in instances:
        resource = inst.resource or {"resourceType": inst.rule.resource_type}
        ident = _key_identifier(resource, inst.rule)
        query = identifier_query(ident) if ident is not None else None
        if query is not None:
            key = (inst.rule.resource_type, query)
            if key in seen:
                alias[inst.full_url] = seen[key]
                continue
            seen[key] = inst.full_url
        entries.append({"fullUrl": inst.full_url, "resource": resource, "request": _request(inst, query)})
        origins.append(MappedEntry(inst.rule.name, inst.anchor, inst.rule.write, query))
    if alias:
        for entry in entries:
            rewrite_references(entry["resource"], alias.get)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return MappedMessage(spec.name, bundle, tuple(origins))


def _request(inst: _Instance, query: str | None) -> dict[str, Any]:
    rt = inst.rule.resource_type
    if query is None:
        return {"method": "POST", "url": rt}
    if inst.rule.write == "create":
        return {"method": "POST", "url": rt, "ifNoneExist": query}
    return {"method": "PUT", "url": f"{rt}?{query}"}
