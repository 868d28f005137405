"""The mapping conventions of settings.yaml: time zone, identifier and code systems, value maps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

V2_TABLE = "http://terminology.hl7.org/CodeSystem/v2-"
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TABLE = re.compile(r"^HL7(\d{4})$", re.IGNORECASE)
_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")
LOCAL_IDENTIFIER_BASE = "https://healthbrain.dev/fhir/sid/hl7v2"
LOCAL_CODE_BASE = "https://healthbrain.dev/fhir/CodeSystem/hl7v2"
_MISSING = "\x00missing"  # a memo miss (compared by identity)


@dataclass(frozen=True, slots=True)
class ValueMap:
    """An HL7 code → a FHIR code, or a Coding in `system`; unlisted codes use `default`/`unmapped_system`."""

    name: str
    values: dict[str, Any]
    default: Any = None
    system: str | None = None
    unmapped_system: str | None = None

    def code(self, hl7: str) -> Any:
        """The mapped value of a code, the default for an unlisted one, None for an empty one."""
        if not hl7:
            return None
        if hl7 in self.values:
            return self.values[hl7]
        return self.values.get(hl7.upper(), self.default)

    def coding(self, hl7: str) -> dict[str, Any] | None:
        mapped = self.code(hl7) if hl7 else None
        if mapped is not None and self.system:
            return {"system": self.system, "code": str(mapped)}
        if hl7 and self.unmapped_system:
            return {"system": self.unmapped_system, "code": hl7}
        return None


@dataclass(frozen=True, slots=True)
class Conventions:
    """Everything settings.yaml configures, resolved for fast lookups."""

    versions: frozenset[str] = frozenset({"2.3", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"})
    processing_ids: frozenset[str] = frozenset({"P", "T", "D"})
    default_timezone: str = "+08:00"
    identifier_systems: dict[str, str] = field(default_factory=dict)
    local_identifier_base: str = LOCAL_IDENTIFIER_BASE
    identifier_types: dict[str, str] = field(default_factory=dict)
    local_code_base: str = LOCAL_CODE_BASE
    code_systems: dict[str, str] = field(default_factory=dict)
    maps: dict[str, ValueMap] = field(default_factory=dict)
    _memo: dict[tuple[str, ...], str | None] = field(default_factory=dict, compare=False, repr=False)

    def _remember(self, key: tuple[str, ...], compute: Callable[[], str | None]) -> str | None:
        if key not in self._memo:
            if len(self._memo) > 50_000:  # bounded: senders may send endless distinct names
                self._memo.clear()
            self._memo[key] = compute()
        return self._memo[key]

    def code_system(self, name: str, facility: str = "") -> str | None:
        """The FHIR system URI of an HL7 coding system name (table 0396), None for an empty name."""
        key = ("c", name, facility)
        found = self._memo.get(key, _MISSING)
        if found is not _MISSING:
            return found
        return self._remember(key, lambda: self._code_system(name, facility))

    def _code_system(self, name: str, facility: str) -> str | None:
        name = name.strip()
        if not name:
            return None
        known = self.code_systems.get(name.upper())
        if known:
            return known
        table = _TABLE.match(name)
        if table:
            return V2_TABLE + table.group(1)
        if _OID.match(name):
            return f"urn:oid:{name}"
        if ":" in name:
            return name  # already a URI
        if name.upper() == "L" or name.upper().startswith("99"):
            return f"{self.local_code_base}/{quote(facility or 'unknown', safe='')}/{quote(name, safe='')}"
        return f"{self.local_code_base}/{quote(name, safe='')}"

    def identifier_system(
        self, namespace: str, universal_id: str = "", universal_type: str = ""
    ) -> str | None:
        """Identifier.system of an assigning authority (HD): its OID/UUID/URI, else the namespace."""
        key = ("i", namespace, universal_id, universal_type)
        found = self._memo.get(key, _MISSING)
        if found is not _MISSING:
            return found
        return self._remember(key, lambda: self._identifier_system(namespace, universal_id, universal_type))

    def _identifier_system(self, namespace: str, universal_id: str, universal_type: str) -> str | None:
        kind = universal_type.strip().upper()
        uid = universal_id.strip()
        ns = namespace.strip()
        for key in (ns, uid):
            if key and key in self.identifier_systems:
                return self.identifier_systems[key]
        if uid and (kind == "ISO" or (not kind and _OID.match(uid))) and _OID.match(uid):
            return f"urn:oid:{uid}"
        if uid and kind == "UUID" and _UUID.match(uid):
            return f"urn:uuid:{uid.lower()}"
        if uid and kind in ("URI", "URL") and ":" in uid:
            return uid
        local = ns or uid
        return f"{self.local_identifier_base}/{quote(local, safe='')}" if local else None

    def value_map(self, name: str) -> ValueMap:
        found = self.maps.get(name)
        if found is None:
            raise KeyError(name)
        return found


def conventions_from(data: dict[str, Any]) -> Conventions:
    """Build Conventions from the merged settings.yaml data; raises ValueError on a bad setting."""
    tz = str(data.get("default_timezone", "+08:00"))
    if tz in ("Z", "+00:00", "-00:00"):
        tz = "+00:00"
    if not _OFFSET.match(tz):
        raise ValueError("default_timezone must look like +08:00")
    maps: dict[str, ValueMap] = {}
    for name, spec in (data.get("maps") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("values", {}), dict):
            raise ValueError(f"maps.{name} must have a `values` mapping")
        values = {str(k): v for k, v in (spec.get("values") or {}).items()}
        maps[str(name)] = ValueMap(
            str(name), values, spec.get("default"), spec.get("system"), spec.get("unmapped_system")
        )
    return Conventions(
        versions=frozenset(str(v) for v in data.get("versions", [])),
        processing_ids=frozenset(str(v) for v in data.get("processing_ids", ["P", "T", "D"])),
        default_timezone=tz,
        identifier_systems={str(k): str(v) for k, v in (data.get("identifier_systems") or {}).items()},
        local_identifier_base=str(data.get("local_identifier_base", LOCAL_IDENTIFIER_BASE)).rstrip("/"),
        identifier_types={str(k).upper(): str(v) for k, v in (data.get("identifier_types") or {}).items()},
        local_code_base=str(data.get("local_code_base", LOCAL_CODE_BASE)).rstrip("/"),
        code_systems={str(k).upper(): str(v) for k, v in (data.get("code_systems") or {}).items()},
        maps=maps,
    )
