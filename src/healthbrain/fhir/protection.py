"""Identifiers encrypted at rest and still searchable: sealing content, blind index rows, blind queries.

A `FieldProtector` (the security package's) seals the identifying values of a resource (身份证,
phone, name, street address) before it is stored and says which search parameters hold them. This
module turns the index rows of those parameters into keyed hashes (blind indexes) and rewrites
searches on them to look the hashes up, so that exact, prefix and short `:contains` searches work
while neither the content nor the index tables hold the values in the clear.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from healthbrain.fhir.text import normalise
from healthbrain.storage.query import (
    AllOf,
    AnyOf,
    Chain,
    Cond,
    Criterion,
    IndexMatch,
    Not,
    Query,
    ReverseChain,
)
from healthbrain.storage.rows import IndexRows

__all__ = ["FieldProtector", "protect_query", "protect_rows"]

PREFIX_TOKENS = 16  # prefix searches look at most this many characters
CONTAINS_TOKENS = 8  # `:contains` on protected names: substrings up to this length


class FieldProtector(Protocol):
    """Seals identifying values; implemented by the security package."""

    protected_types: frozenset[str]

    def seal(self, resource: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        """A copy with identifying values encrypted, and the set of plaintext values sealed."""

    def reveal_text(self, res_type: str, content: str) -> str:
        """Stored JSON text with every sealed value decrypted."""

    def blind(self, res_type: str, param: str, mode: str, value: str) -> str:
        """The keyed hash of `value` for `param`, mode e(xact) | p(refix) | c(ontains) | t(oken)."""

    def param_mode(self, res_type: str, param: str) -> str | None:
        """ "full" (every value is identifying), "partial" (the sealed ones are) or None."""


def _string_tokens(
    protector: FieldProtector, rt: str, param: str, norm: str, exact: str, contains: bool
) -> list[tuple[str, str, str]]:
    tokens = [protector.blind(rt, param, "e", exact)]
    tokens += [protector.blind(rt, param, "p", norm[:n]) for n in range(1, min(len(norm), PREFIX_TOKENS) + 1)]
    if contains:
        tokens += [
            protector.blind(rt, param, "c", norm[i : i + n])
            for n in range(1, CONTAINS_TOKENS + 1)
            for i in range(0, len(norm) - n + 1)
        ]
    return [(param, tok, tok) for tok in dict.fromkeys(tokens)]


def protect_rows(protector: FieldProtector, rt: str, rows: IndexRows, sealed: frozenset[str]) -> IndexRows:
    """Index rows of a sealed resource: identifying values replaced by their blind tokens."""
    sealed_norm = {normalise(v) for v in sealed}
    strings: list[tuple[str, str, str]] = []
    for param, norm, exact in rows.strings:
        mode = protector.param_mode(rt, param)
        if mode == "full":
            strings += _string_tokens(protector, rt, param, norm, exact, contains=True)
        elif mode == "partial" and (exact in sealed or norm in sealed_norm):
            strings += _string_tokens(protector, rt, param, norm, exact, contains=False)
        else:
            strings.append((param, norm, exact))
    tokens: list[tuple[str, str | None, str | None]] = []
    for param, system, code in rows.tokens:
        if code is not None and code in sealed and protector.param_mode(rt, param) is not None:
            tokens.append((param, system, protector.blind(rt, param, "t", code)))
        else:
            tokens.append((param, system, code))
    return replace(rows, strings=list(dict.fromkeys(strings)), tokens=tokens)


def _unlike(pattern: str) -> str:
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _blind_string(protector: FieldProtector, rt: str, param: str, cond: Cond) -> Cond | None:
    """The blind form of one string condition (None when the condition has none)."""
    if cond.column == "exact" and cond.op == "=":
        return Cond("exact", "=", protector.blind(rt, param, "e", str(cond.value)))
    if cond.column == "norm" and cond.op == "like":
        pattern = str(cond.value)
        if pattern.startswith("%") and pattern.endswith("%") and len(pattern) >= 2:
            value = _unlike(pattern[1:-1])
            return Cond("norm", "=", protector.blind(rt, param, "c", value[:CONTAINS_TOKENS]))
        if pattern.endswith("%") and not pattern.startswith("%"):
            value = _unlike(pattern[:-1])
            return Cond("norm", "=", protector.blind(rt, param, "p", value[:PREFIX_TOKENS]))
    return None


def _protect_match(protector: FieldProtector, rt: str, match: IndexMatch) -> Criterion:
    mode = protector.param_mode(rt, match.param)
    if mode is None:
        return match
    if match.kind == "string":
        blind = [_blind_string(protector, rt, match.param, c) for c in match.conds]
        if any(b is None for b in blind):
            return match
        hashed = IndexMatch("string", match.param, tuple(b for b in blind if b is not None))
        return hashed if mode == "full" else AnyOf((match, hashed))
    if match.kind == "token":
        conds = tuple(
            Cond("code", "=", protector.blind(rt, match.param, "t", str(c.value)))
            if c.column == "code" and c.op == "=" and c.value is not None
            else c
            for c in match.conds
        )
        return match if conds == match.conds else AnyOf((match, IndexMatch("token", match.param, conds)))
    return match


def _protect(protector: FieldProtector, rt: str, c: Criterion) -> Criterion:
    if isinstance(c, IndexMatch):
        return _protect_match(protector, rt, c) if rt in protector.protected_types else c
    if isinstance(c, AnyOf):
        return AnyOf(tuple(_protect(protector, rt, o) for o in c.options))
    if isinstance(c, AllOf):
        return AllOf(tuple(_protect(protector, rt, p) for p in c.parts))
    if isinstance(c, Not):
        return Not(_protect(protector, rt, c.criterion))
    if isinstance(c, Chain):
        return Chain(c.param, c.target_type, tuple(_protect(protector, c.target_type, x) for x in c.criteria))
    if isinstance(c, ReverseChain):
        return ReverseChain(
            c.source_type, c.param, tuple(_protect(protector, c.source_type, x) for x in c.criteria)
        )
    return c


def protect_query(protector: FieldProtector, query: Query) -> Query:
    """The query with conditions on protected parameters looking up blind tokens."""
    criteria = tuple(_protect(protector, query.resource_type, c) for c in query.criteria)
    return Query(query.resource_type, criteria, query.sort, query.constraints)
