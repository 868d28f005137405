"""Loading the mapping specs (settings, structures, templates, message rules) into a `Catalog`.

The package ships a complete set under `specs/`; an integrator's directory with the same layout
overrides or extends it file by file (settings.yaml merged key by key), without touching code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import yaml

from healthbrain.fhir.types import is_resource_type
from healthbrain.ingest.hl7v2 import directives as _directives  # noqa: F401  (registers the directives)
from healthbrain.ingest.hl7v2.conventions import Conventions, conventions_from
from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.scope import FieldPath, Scope, parse_path
from healthbrain.ingest.hl7v2.structure import Item, parse_structure
from healthbrain.ingest.hl7v2.template import Fn, compile_condition, compile_node, substitute

WRITES = frozenset({"upsert", "create", "merge"})
RULE_KEYS = frozenset({"for", "for_each", "template", "write", "when", "key", "key_types", "params"})
DEFAULT_KEY_TYPES = ("MR", "PI", "PT", "PN")


@dataclass(frozen=True, slots=True)
class Rule:
    """One resource a message produces: per anchor (a segment id or group name) or for the first."""

    name: str
    resource_type: str
    anchor: str
    each: bool
    when: Callable[[Scope], bool] | None
    write: str  # upsert: PUT Type?key | create: POST + ifNoneExist | merge: read, merge, PUT If-Match
    key: str  # the element holding the identifier re-sent messages are matched on
    key_types: tuple[str, ...]
    build: Fn


@dataclass(frozen=True, slots=True)
class Requirement:
    """A field every occurrence of its segment must send, unless that segment says otherwise."""

    path: FieldPath
    unless: tuple[tuple[FieldPath, frozenset[str]], ...] = ()


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """The mapping of a set of message types/events (one file under specs/messages)."""

    name: str
    events: tuple[str, ...]
    structure: Item
    required_segments: tuple[str, ...]
    required_fields: tuple[Requirement, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every message spec by `TYPE^EVENT`, with the shared conventions."""

    conventions: Conventions
    messages: dict[str, MessageSpec]

    def spec_for(self, message_type: str, event: str) -> MessageSpec | None:
        return self.messages.get(f"{message_type}^{event}")

    def knows_type(self, message_type: str) -> bool:
        return any(k.split("^", 1)[0] == message_type for k in self.messages)


def _read_yaml(path: Path | Any, where: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{where}{line}", "not valid YAML") from exc


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return extra


def _yaml_files(root: Any, sub: str) -> dict[str, tuple[str, Any]]:
    """name → (where, parsed YAML) for `root/sub/*.yaml` (root a Path or a package directory)."""
    folder = root / sub if sub else root
    if not folder.is_dir():
        return {}
    out: dict[str, tuple[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            where = f"{sub}/{entry.name}" if sub else entry.name
            out[entry.name[: -len(".yaml")]] = (where, _read_yaml(entry, where))
    return out


def _compile_rule(name: str, raw: Any, templates: dict[str, tuple[str, Any]], where: str) -> Rule:
    if not isinstance(raw, dict):
        raise SpecError(where, "a rule is a mapping")
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise SpecError(where, f"unknown key {sorted(unknown)[0]}")
    if ("for" in raw) == ("for_each" in raw):
        raise SpecError(where, "give exactly one of for / for_each")
    anchor = str(raw.get("for") or raw.get("for_each"))
    template_name = str(raw.get("template", ""))
    if template_name not in templates:
        raise SpecError(where, f"unknown template '{template_name}'")
    t_where, template = templates[template_name]
    if not isinstance(template, dict) or not is_resource_type(str(template.get("resourceType", ""))):
        raise SpecError(t_where, "a template is a mapping with a FHIR resourceType")
    write = str(raw.get("write", "upsert"))
    if write not in WRITES:
        raise SpecError(where, f"write must be one of {', '.join(sorted(WRITES))}")
    params = {**(template.get("params") or {}), **(raw.get("params") or {})}
    body = substitute({k: v for k, v in template.items() if k != "params"}, params, t_where)
    when = compile_condition(raw["when"], f"{where}.when") if "when" in raw else None
    return Rule(
        name=name,
        resource_type=str(template["resourceType"]),
        anchor=anchor,
        each="for_each" in raw,
        when=when,
        write=write,
        key=str(raw.get("key", "identifier")),
        key_types=tuple(str(t) for t in raw.get("key_types", DEFAULT_KEY_TYPES)),
        build=compile_node(body, t_where),
    )


def _requirement(item: Any, where: str) -> Requirement:
    """`PID-3`, or `{field: OBX-3, unless: {OBX-2: [ED, RP]}}` (conditions on the same segment)."""
    text, unless = (item.get("field"), item.get("unless") or {}) if isinstance(item, dict) else (item, {})
    path = parse_path(str(text))
    if path is None:
        raise SpecError(where, f"'{text}' is not a field path")
    conditions = []
    for key, allowed in unless.items():
        cond = parse_path(str(key))
        if cond is None or cond.segment != path.segment:
            raise SpecError(where, f"unless: '{key}' must be a field of {path.segment}")
        values = allowed if isinstance(allowed, list) else [allowed]
        conditions.append((cond, frozenset(str(v) for v in values)))
    return Requirement(path, tuple(conditions))


def _compile_message(
    name: str, where: str, raw: Any, structures: dict[str, Item], templates: dict[str, tuple[str, Any]]
) -> MessageSpec:
    if not isinstance(raw, dict):
        raise SpecError(where, "a message spec is a mapping")
    events = [str(e).upper() for e in raw.get("events", [])]
    if not events or not all(e.count("^") == 1 for e in events):
        raise SpecError(where, "events is a list such as [ORU^R01]")
    structure = structures.get(str(raw.get("structure", "")))
    if structure is None:
        raise SpecError(where, f"unknown structure '{raw.get('structure')}'")
    fields = [
        _requirement(item, f"{where}.required_fields[{i}]")
        for i, item in enumerate(raw.get("required_fields", []))
    ]
    rules = raw.get("resources")
    if not isinstance(rules, dict) or not rules:
        raise SpecError(where, "resources maps rule names to rules")
    return MessageSpec(
        name=name,
        events=tuple(events),
        structure=structure,
        required_segments=tuple(str(s) for s in raw.get("required_segments", [])),
        required_fields=tuple(fields),
        rules=tuple(_compile_rule(str(k), v, templates, f"{where}.resources.{k}") for k, v in rules.items()),
    )


def load_catalog(extra: Path | None = None) -> Catalog:
    """The shipped specs, overridden and extended by the files under `extra` when given.

    Raises SpecError (file and element) for anything that cannot be used.
    """
    roots: list[Any] = [package_files.files("healthbrain.ingest.hl7v2") / "specs"]
    if extra is not None:
        if not extra.is_dir():
            raise SpecError(str(extra), "not a directory")
        roots.append(extra)
    settings: dict[str, Any] = {}
    structures_raw: dict[str, tuple[str, Any]] = {}
    templates: dict[str, tuple[str, Any]] = {}
    messages: dict[str, tuple[str, Any]] = {}
    for root in roots:
        top = _yaml_files(root, "")
        if "settings" in top:
            settings = _merge(settings, top["settings"][1] or {})
        if "structures" in top:
            where, data = top["structures"]
            structures_raw.update({str(k): (where, v) for k, v in (data or {}).items()})
        templates.update(_yaml_files(root, "templates"))
        messages.update(_yaml_files(root, "messages"))
    try:
        conventions = conventions_from(settings)
        structures = {k: parse_structure(k, v) for k, (_w, v) in structures_raw.items()}
    except ValueError as exc:
        raise SpecError("settings.yaml / structures.yaml", str(exc)) from exc
    by_event: dict[str, MessageSpec] = {}
    for name, (where, raw) in messages.items():
        spec = _compile_message(name, where, raw, structures, templates)
        by_event.update({event: spec for event in spec.events})
    return Catalog(conventions, by_event)


@cache
def default_catalog() -> Catalog:
    """The shipped specs, compiled once per process."""
    return load_catalog()
