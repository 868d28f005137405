"""Which values of a resource identify a person, and how they are sealed at rest.

Sealed: national identity numbers (居民身份证 and the like), phone numbers and e-mail, names, and
street-level address lines. Kept in the clear: city, district, province and postal code, which the
surveillance and analytics services aggregate by (they identify no one alone). Sealed values are
`hb1:<key id>:<AES-256-GCM or SM4-GCM>` strings bound to the resource type; their search index rows
are HMAC blind indexes (see healthbrain.fhir.protection).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select, tuple_, update

from healthbrain.core.db import begin_write
from healthbrain.security.crypto import PREFIX, KeyRing, is_protected
from healthbrain.storage import tables as st

__all__ = ["IdentityFieldProtector", "reencrypt"]

PROTECTED_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})
# identifier systems (and v2-0203 types) whose values identify a person nationally
NATIONAL_ID_SYSTEMS = frozenset({"urn:oid:2.16.156.10011.1.1", "urn:oid:2.16.840.1.113883.4.1"})
NATIONAL_ID_TYPES = frozenset({"NI", "NNCHN", "PPN", "SS", "DL", "PEN"})
# search parameters: every value identifying (full), or only the sealed ones (partial)
_MODES = {
    "name": "full",
    "family": "full",
    "given": "full",
    "phonetic": "full",
    "address": "partial",
    "identifier": "partial",
    "telecom": "partial",
    "phone": "partial",
    "email": "partial",
}


def _national(identifier: dict[str, Any]) -> bool:
    if identifier.get("system") in NATIONAL_ID_SYSTEMS:
        return True
    codings = ((identifier.get("type") or {}).get("coding")) or []
    return any(isinstance(c, dict) and c.get("code") in NATIONAL_ID_TYPES for c in codings)


class IdentityFieldProtector:
    """Implements the FHIR layer's FieldProtector port with the deployment's key ring."""

    protected_types = PROTECTED_TYPES

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    # ---- sealing ---------------------------------------------------------------------------------
    def seal(self, resource: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        rt = str(resource.get("resourceType"))
        if rt not in PROTECTED_TYPES:
            return resource, frozenset()
        sealed: set[str] = set()
        context = rt

        def lock(value: Any) -> Any:
            if isinstance(value, str) and value and not is_protected(value):
                sealed.add(value)
                return self.keys.encrypt(value, context)
            return value

        out = dict(resource)
        out["identifier"] = [
            {**i, "value": lock(i.get("value"))} if isinstance(i, dict) and _national(i) else i
            for i in resource.get("identifier") or []
        ] or None
        out["telecom"] = [_seal_telecom(t, lock) for t in resource.get("telecom") or []] or None
        out["name"] = [_seal_name(n, lock) for n in resource.get("name") or []] or None
        out["address"] = _seal_addresses(resource.get("address"), lock)
        if resource.get("contact"):
            out["contact"] = [
                {
                    **c,
                    **({"name": _seal_name(c["name"], lock)} if isinstance(c.get("name"), dict) else {}),
                    **(
                        {"telecom": [_seal_telecom(t, lock) for t in c["telecom"]]}
                        if c.get("telecom")
                        else {}
                    ),
                    **({"address": _seal_addresses(c["address"], lock)} if c.get("address") else {}),
                }
                for c in resource["contact"]
                if isinstance(c, dict)
            ]
        return {k: v for k, v in out.items() if v is not None}, frozenset(sealed)

    def reveal_text(self, res_type: str, content: str) -> str:
        if res_type not in PROTECTED_TYPES or PREFIX + ":" not in content:
            return content
        return orjson.dumps(self.reveal(res_type, orjson.loads(content))).decode()

    def reveal(self, res_type: str, node: Any) -> Any:
        """Every sealed string of a resource decrypted (the structure is unchanged)."""
        if isinstance(node, str):
            return self.keys.decrypt(node, res_type) if is_protected(node) else node
        if isinstance(node, list):
            return [self.reveal(res_type, x) for x in node]
        if isinstance(node, dict):
            return {k: self.reveal(res_type, v) for k, v in node.items()}
        return node

    # ---- blind indexes ---------------------------------------------------------------------------
    def blind(self, res_type: str, param: str, mode: str, value: str) -> str:
        # "\u2295" marks a blind token so it can never equal a plaintext index value
        return "\u2295" + self.keys.blind_index(f"{mode}\x1f{value}", f"{res_type}.{param}")[:32]

    def param_mode(self, res_type: str, param: str) -> str | None:
        if res_type not in PROTECTED_TYPES:
            return None
        return _MODES.get(param.removesuffix(":text")) if not param.endswith(":text") else None


def _seal_telecom(t: Any, lock: Any) -> Any:
    return {**t, "value": lock(t.get("value"))} if isinstance(t, dict) else t


def _seal_name(n: Any, lock: Any) -> Any:
    if not isinstance(n, dict):
        return n
    out = dict(n)
    for key in ("text", "family"):
        if key in out:
            out[key] = lock(out[key])
    if isinstance(out.get("given"), list):
        out["given"] = [lock(g) for g in out["given"]]
    return out


def _seal_addresses(addresses: Any, lock: Any) -> Any:
    if addresses is None:
        return None
    items = addresses if isinstance(addresses, list) else [addresses]
    sealed = []
    for item in items:
        if isinstance(item, dict):
            a = dict(item)
            if "text" in a:
                a["text"] = lock(a["text"])
            if isinstance(a.get("line"), list):
                a["line"] = [lock(x) for x in a["line"]]
            sealed.append(a)
        else:
            sealed.append(item)
    return sealed if isinstance(addresses, list) else sealed[0]


def _rekey(keys: KeyRing, res_type: str, node: Any, active: str) -> tuple[Any, int]:
    """The node with every value sealed under another key re-sealed under `active`."""
    if isinstance(node, str):
        if is_protected(node) and keys.key_of(node) != active:
            return keys.encrypt(keys.decrypt(node, res_type), res_type), 1
        return node, 0
    if isinstance(node, list):
        items = [_rekey(keys, res_type, x, active) for x in node]
        return [x for x, _ in items], sum(n for _, n in items)
    if isinstance(node, dict):
        pairs = {k: _rekey(keys, res_type, v, active) for k, v in node.items()}
        return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
    return node, 0


def reencrypt(engine: Engine, keys: KeyRing, batch: int = 500) -> int:
    """Re-seal every stored value still under a retired data key, online, in place; returns values re-sealed.

    Current and historical versions are both rewritten; versions and index rows do not change
    (blind indexes use the blind-index key, not the data key).
    """
    active = keys.active("data").id
    total = 0
    for table in (st.resource, st.resource_version):
        c = table.c
        key_cols = [c.res_type, c.res_id] + ([c.version_id] if table is st.resource_version else [])
        last: tuple[Any, ...] | None = None
        while True:
            stmt = select(*key_cols, c.content).where(
                c.res_type.in_(sorted(PROTECTED_TYPES)), c.content.is_not(None)
            )
            if last is not None:
                stmt = stmt.where(tuple_(*key_cols) > tuple_(*last))
            with engine.connect() as conn:
                rows = conn.execute(stmt.order_by(*key_cols).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                key = tuple(row[: len(key_cols)])
                if PREFIX + ":" not in row.content:
                    continue
                doc, n = _rekey(keys, row.res_type, orjson.loads(row.content), active)
                if n:
                    with begin_write(engine) as conn:
                        conn.execute(
                            update(table)
                            .where(*(col == value for col, value in zip(key_cols, key, strict=True)))
                            .values(content=orjson.dumps(doc).decode())
                        )
                    total += n
            last = tuple(rows[-1][: len(key_cols)])
    return total
