"""The organisation hierarchy 省 → 市 → 县 → 机构 → 科室, read from the stored FHIR Organizations.

Organizations are FHIR resources (written through the repository like everything else); this
module reads their `partOf` links and types straight from the store's tables to answer "which
organisations lie under this one", cached for a few seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, and_, select

from healthbrain.storage import tables as st

__all__ = ["OrgDirectory", "OrgNode"]

ADMIN_LEVEL = "https://healthbrain.dev/fhir/CodeSystem/admin-level"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"


@dataclass(frozen=True, slots=True)
class OrgNode:
    id: str
    parent: str | None
    level: str  # province | city | county | institution | department | other


def _level(types: list[dict[str, object]]) -> str:
    codes = {
        (str(c.get("system")), str(c.get("code")))
        for t in types
        if isinstance(t, dict)
        for c in t.get("coding") or []  # type: ignore[attr-defined]
        if isinstance(c, dict)
    }
    for level in ("province", "city", "county"):
        if (ADMIN_LEVEL, level) in codes:
            return level
    if (ORG_TYPE, "dept") in codes:
        return "department"
    if (ORG_TYPE, "prov") in codes:
        return "institution"
    return "other"


class OrgDirectory:
    """Subtrees and ancestors of organisations."""

    def __init__(self, engine: Engine, ttl_seconds: float = 10.0) -> None:
        self.engine = engine
        self.ttl = ttl_seconds
        self._nodes: dict[str, OrgNode] = {}
        self._children: dict[str, list[str]] = {}
        self._loaded_at = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def _load(self) -> None:
        if time.monotonic() - self._loaded_at < self.ttl:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < self.ttl:
                return
            r = st.resource.c
            nodes: dict[str, OrgNode] = {}
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(r.res_id, r.content).where(
                        and_(r.res_type == "Organization", r.deleted.is_(False))
                    )
                )
                for rid, content in rows:
                    org = orjson.loads(content) if content else {}
                    ref = str((org.get("partOf") or {}).get("reference") or "")
                    parent = ref.split("/", 1)[1] if ref.startswith("Organization/") else None
                    nodes[rid] = OrgNode(rid, parent, _level(org.get("type") or []))
            children: dict[str, list[str]] = {}
            for node in nodes.values():
                if node.parent:
                    children.setdefault(node.parent, []).append(node.id)
            self._nodes, self._children = nodes, children
            self._generation += 1
            self._loaded_at = time.monotonic()

    def generation(self) -> int:
        """A number that changes whenever the directory was read again (for caches built on it)."""
        self._load()
        return self._generation

    def node(self, org_id: str) -> OrgNode | None:
        self._load()
        return self._nodes.get(org_id)

    def subtree(self, org_id: str) -> tuple[str, ...]:
        """The organisation and everything under it (itself only when unknown)."""
        self._load()
        out, stack, seen = [], [org_id], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(self._children.get(current, ()))
        return tuple(sorted(out))

    def ancestors(self, org_id: str) -> list[str]:
        """Parents up to the root, nearest first."""
        self._load()
        out: list[str] = []
        current = self._nodes.get(org_id)
        while current is not None and current.parent and current.parent not in out:
            out.append(current.parent)
            current = self._nodes.get(current.parent)
        return out

    def care_unit(self, org_id: str) -> str:
        """The institution a department belongs to (care relationships are per institution)."""
        node = self.node(org_id)
        while node is not None and node.level == "department" and node.parent:
            node = self.node(node.parent) or None
        return node.id if node is not None else org_id
