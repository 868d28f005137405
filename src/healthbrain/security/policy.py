"""The access policy: roles, scopes, organisation hierarchy, care relationship, consent, break-glass, levels.

One decision procedure for every path. A principal sees a patient when its role's reach allows:
- `care` (clinicians, nurses, pharmacists, institution systems): the patient is managed by its
  institution, or has an encounter there / a referral to it within the care window (the store's
  care links, `storage.care`), or has consented to it for the purpose, and has not refused that
  purpose (deny consent); or an active break-glass grant exists for the patient and the purpose is
  emergency treatment;
- `region` (CDC officers, regional roles): the patient is managed by an organisation in its region;
- `claims` (insurance auditors): as `region`, and the patient has a claim;
- `none`: no patient at all.
Labelled sensitive data (level 4) is hidden from roles not cleared for it. The same decision is
expressed as search constraints (so counts and `_has` obey it) and checked on single resources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine

from healthbrain.core.access import Subject
from healthbrain.core.context import PurposeOfUse, RequestContext
from healthbrain.core.db import single_statement
from healthbrain.core.errors import Forbidden
from healthbrain.core.settings import SecuritySettings
from healthbrain.security.breakglass import BreakGlassLedger
from healthbrain.security.labels import SENSITIVE_LABELS
from healthbrain.security.orgs import OrgDirectory
from healthbrain.security.roles import (
    ROLES,
    RolePermissions,
    Scope,
    action_group,
    parse_scopes,
    type_group,
)
from healthbrain.storage.query import (
    AllOf,
    AnyOf,
    CareLink,
    Chain,
    Cond,
    Criterion,
    IdIn,
    IndexMatch,
    Not,
    ReverseChain,
)
from healthbrain.storage.store import SqlResourceStore

__all__ = ["RolePolicy"]

NOTHING: Criterion = IdIn(())
_NOT_SENSITIVE: Criterion = Not(
    IndexMatch("token", "_security", (Cond("code", "in", tuple(sorted(SENSITIVE_LABELS))),))
)


@dataclass(frozen=True, slots=True)
class _Standing:
    """A principal's combined permissions for one request."""

    grants: frozenset[tuple[str, str]]
    purposes: frozenset[PurposeOfUse]
    reaches: frozenset[str]
    sensitive: bool
    write_types: frozenset[str] | None


@lru_cache(maxsize=1024)
def _scopes(scopes: frozenset[str]) -> tuple[Scope, ...]:
    return tuple(parse_scopes(scopes))


@lru_cache(maxsize=256)
def _standing(roles: frozenset[str]) -> _Standing:
    perms: list[RolePermissions] = [ROLES[r] for r in roles if r in ROLES]
    write_types: set[str] | None = set()
    for p in perms:
        if p.write_types is None and any(a == "write" and g == "clinical" for a, g in p.grants):
            write_types = None
        elif write_types is not None and p.write_types is not None:
            write_types |= p.write_types
    return _Standing(
        frozenset(g for p in perms for g in p.grants),
        frozenset(pp for p in perms for pp in p.purposes),
        frozenset(p.reach for p in perms),
        any(p.sensitive for p in perms),
        frozenset(write_types) if write_types is not None else None,
    )


class RolePolicy:
    """Implements the repository's AccessPolicy port."""

    def __init__(
        self,
        engine: Engine,
        settings: SecuritySettings,
        *,
        orgs: OrgDirectory | None = None,
        break_glass: BreakGlassLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.orgs = orgs or OrgDirectory(engine)
        self.break_glass = break_glass or BreakGlassLedger(engine, settings)
        self.clock = clock
        self.store = SqlResourceStore()
        # constraints per request shape; the same objects each time, so their SQL is found by identity
        self._memo: dict[tuple[object, ...], tuple[Criterion, ...]] = {}

    # ---- type level ------------------------------------------------------------------------------
    def authorize(self, ctx: RequestContext, action: str, resource_type: str) -> None:
        if ctx.is_system:
            return
        standing = _standing(ctx.principal.roles)
        group = "clinical" if resource_type == "*" else type_group(resource_type)
        agroup = action_group(action)
        if resource_type == "*" and "all" not in standing.reaches:
            raise Forbidden("system-wide operations need a system role", code="security.forbidden")
        allowed = (agroup, group) in standing.grants or (
            agroup == "count" and ("read", group) in standing.grants
        )
        if not allowed:
            raise Forbidden(f"the role may not {action} {resource_type}", code="security.forbidden")
        if group != "directory" and ctx.purpose not in standing.purposes:
            raise Forbidden("the purpose of use is not permitted for this role", code="security.purpose")
        limited = standing.write_types
        if agroup == "write" and group == "clinical" and limited is not None and resource_type not in limited:
            raise Forbidden(f"the role may not write {resource_type}", code="security.forbidden")
        if ctx.break_glass is not None and ctx.purpose != PurposeOfUse.EMERGENCY:
            raise Forbidden("break-glass access is for emergency treatment only", code="security.purpose")
        self._check_scopes(ctx, action, resource_type)

    def _check_scopes(self, ctx: RequestContext, action: str, resource_type: str) -> None:
        scopes = _scopes(ctx.principal.scopes)
        context = "system" if ctx.principal.kind == "client" else "user"
        usable = [s for s in scopes if s.context == context or (s.context == "patient" and ctx.patient)]
        if resource_type == "*":
            ok = any(s.resource_type == "*" and s.allows(action, "Patient") for s in usable)
        else:
            ok = any(s.allows(action, resource_type) for s in usable)
        if not ok:
            raise Forbidden("the token's scopes do not cover this request", code="security.scope")

    # ---- query level -----------------------------------------------------------------------------
    def constraints(
        self, ctx: RequestContext, action: str, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]:
        if ctx.is_system:
            return ()
        key = (
            "constraints",
            ctx.principal,
            ctx.purpose,
            ctx.patient,
            resource_type if resource_type == "Patient" else type_group(resource_type),
            patient_param,
        )
        return self._memoized(ctx, key, lambda: self._constraints(ctx, resource_type, patient_param))

    def _memoized(
        self, ctx: RequestContext, key: tuple[object, ...], build: Callable[[], tuple[Criterion, ...]]
    ) -> tuple[Criterion, ...]:
        """`build()` once per key, care-window day and organisation directory load; built anew under
        break-glass, whose grants the ledger holds live."""
        if ctx.break_glass is not None:
            return build()
        full = (*key, self._cutoff(), self.orgs.generation())
        found = self._memo.get(full)
        if found is None:
            found = build()
            if len(self._memo) >= 4096:
                self._memo.clear()
            self._memo[full] = found
        return found

    def _constraints(
        self, ctx: RequestContext, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]:
        standing = _standing(ctx.principal.roles)
        if "all" in standing.reaches:
            return ()
        group = "clinical" if resource_type == "*" else type_group(resource_type)
        if group in ("directory", "platform"):
            return ()
        out: list[Criterion] = []
        patient_ok = self._patient_criterion(ctx, standing)
        if resource_type == "Patient":
            out.append(patient_ok)
        elif patient_param is not None:
            out.append(Chain(patient_param, "Patient", (patient_ok,)))
        if not standing.sensitive:
            out.append(_NOT_SENSITIVE)
        return tuple(out)

    def _cutoff(self) -> float:
        """The care window's start, in whole days: the same constraint (and SQL) for a whole day."""
        return float(int((self.clock() - self.settings.care_window_days * 86400) // 86400) * 86400)

    def _patient_criterion(self, ctx: RequestContext, standing: _Standing) -> Criterion:
        org = ctx.principal.organization
        if org is None:
            return NOTHING
        options: list[Criterion] = []
        if "care" in standing.reaches:
            options.append(self._care(ctx, self.orgs.subtree(self.orgs.care_unit(org))))
        if "region" in standing.reaches:
            options.append(_managed_by(self.orgs.subtree(org)))
        if "claims" in standing.reaches:
            region = self.orgs.subtree(org)
            options.append(
                AllOf(
                    (
                        _managed_by(region),
                        ReverseChain("Claim", "patient", ()),
                        Not(_consent(ctx.purpose, "deny", None)),
                    )
                )
            )
        criterion: Criterion = AnyOf(tuple(options)) if options else NOTHING
        if ctx.patient is not None and any(s.context == "patient" for s in _scopes(ctx.principal.scopes)):
            # a SMART patient launch: only the patient in context, whatever else the role reaches
            criterion = AllOf((IdIn((ctx.patient,)), criterion))
        return criterion

    def _care(self, ctx: RequestContext, units: tuple[str, ...]) -> Criterion:
        # An encounter at one of the units or a referral to it within the care window: the links
        # that `storage.care.CARE_LINK_SOURCES` declares, kept by the store with every write.
        seen = CareLink(units, self._cutoff())
        related = AnyOf((seen, _consent(ctx.purpose, "permit", units)))
        options: list[Criterion] = [
            _managed_by(units),
            AllOf((related, Not(_consent(ctx.purpose, "deny", None)))),
        ]
        if ctx.purpose == PurposeOfUse.EMERGENCY and ctx.break_glass is not None:
            granted = self.break_glass.active_patients(ctx.principal.id)
            if granted:
                options.append(IdIn(tuple(sorted(granted))))
        return AnyOf(tuple(options))

    # ---- instance level --------------------------------------------------------------------------
    def permitted(self, ctx: RequestContext, action: str, subjects: Sequence[Subject]) -> list[bool]:
        if ctx.is_system:
            return [True] * len(subjects)
        standing = _standing(ctx.principal.roles)
        if "all" in standing.reaches:
            return [True] * len(subjects)
        wanted = {p for s in subjects for p in s.patients}
        visible = self._visible_patients(ctx, standing, wanted) if wanted else set()
        out = []
        for s in subjects:
            group = type_group(s.resource_type)
            if group in ("directory", "platform"):
                out.append(True)
                continue
            if not standing.sensitive and {code for _, code in s.labels} & SENSITIVE_LABELS:
                out.append(False)
                continue
            if action_group(action) == "write" and s.resource_type == "Patient":
                # patients are registered at one's own institution; a record without a managing
                # organisation may be edited only by those who already see it
                if s.organization is not None:
                    out.append(s.organization in self._units(ctx, standing))
                else:
                    out.append(bool(s.patients) and all(p in visible for p in s.patients))
                continue
            out.append(all(p in visible for p in s.patients))
        return out

    def _units(self, ctx: RequestContext, standing: _Standing) -> set[str]:
        org = ctx.principal.organization
        if org is None:
            return set()
        if "care" in standing.reaches:
            return set(self.orgs.subtree(self.orgs.care_unit(org)))
        return set(self.orgs.subtree(org))

    def _visible_patients(self, ctx: RequestContext, standing: _Standing, ids: set[str]) -> set[str]:
        key = ("patients", ctx.principal, ctx.purpose, ctx.patient)
        constraints = self._memoized(ctx, key, lambda: (self._patient_criterion(ctx, standing),))
        out: set[str] = set()
        ordered = sorted(ids)
        with single_statement(self.engine) as conn:
            for start in range(0, len(ordered), 500):
                out |= self.store.ids_satisfying(conn, "Patient", ordered[start : start + 500], constraints)
        return out


def _managed_by(units: tuple[str, ...]) -> Criterion:
    return IndexMatch(
        "reference",
        "organization",
        (Cond("target_type", "=", "Organization"), Cond("target_id", "in", units)),
    )


def _consent(purpose: PurposeOfUse, kind: str, units: tuple[str, ...] | None) -> Criterion:
    """The patient has an active Consent of `kind` (permit | deny) for the purpose (and actors)."""
    parts: list[Criterion] = [
        IndexMatch("token", "status", (Cond("code", "=", "active"),)),
        IndexMatch("token", "provision-type", (Cond("code", "=", kind),)),
        IndexMatch("token", "purpose", (Cond("code", "=", purpose.value),)),
    ]
    if units is not None:
        parts.append(
            IndexMatch(
                "reference",
                "actor",
                (Cond("target_type", "=", "Organization"), Cond("target_id", "in", units)),
            )
        )
    return ReverseChain("Consent", "patient", tuple(parts))
