"""The FHIR side of access control: which patient a resource belongs to, and policy-constrained queries.

The security package decides; this module supplies the FHIR facts it decides on (the patients of a
resource, its security labels, its organisation) and pushes the decision into every query, including
the targets of chained and reverse-chained (`_has`) parameters, so nothing invisible can be inferred.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Forbidden
from healthbrain.fhir.indexing import ResourceIndexer
from healthbrain.fhir.ports import AccessPolicy, Subject
from healthbrain.fhir.searchparams import SearchParamRegistry
from healthbrain.storage.query import (
    AllOf,
    AnyOf,
    Chain,
    Criterion,
    IdIn,
    IndexMatch,
    Not,
    Query,
    ReverseChain,
)

__all__ = ["AccessGuard", "patient_param"]

# The reference parameter that links a type to its patient, in order of preference.
_PATIENT_PARAMS = ("patient", "subject", "beneficiary", "member", "individual")
# Where a resource names the organisation it belongs to.
_ORGANIZATION_FIELD = {
    "Patient": "managingOrganization",
    "Encounter": "serviceProvider",
    "Practitioner": None,
    "PractitionerRole": "organization",
    "Location": "managingOrganization",
    "Organization": "partOf",
}


def patient_param(registry: SearchParamRegistry, resource_type: str) -> str | None:
    """The search parameter through which `resource_type` refers to its Patient (None: no patient data)."""
    return _patient_param(id(registry), registry, resource_type)


@cache
def _patient_param(_key: int, registry: SearchParamRegistry, resource_type: str) -> str | None:
    if resource_type == "Patient":
        return None
    for code in _PATIENT_PARAMS:
        sp = registry.get(resource_type, code)
        if sp is not None and sp.type == "reference" and (not sp.targets or "Patient" in sp.targets):
            return code
    return None


class AccessGuard:
    """Asks the policy on behalf of the repository; one instance per repository."""

    def __init__(self, policy: AccessPolicy, registry: SearchParamRegistry, indexer: ResourceIndexer) -> None:
        self.policy = policy
        self.registry = registry
        self.indexer = indexer

    def subject(self, resource: dict[str, Any]) -> Subject:
        """The facts the policy decides on, for one resource."""
        rt = str(resource.get("resourceType"))
        rid = resource.get("id")
        if rt == "Patient":
            patients: tuple[str, ...] = (str(rid),) if rid else ()
        else:
            param = patient_param(self.registry, rt)
            patients = tuple(
                dict.fromkeys(
                    target_id
                    for target_type, target_id in self.indexer.references_of(resource, param)
                    if target_type == "Patient" and target_id
                )
                if param
                else ()
            )
        labels = frozenset(
            (str(label.get("system", "")), str(label.get("code", "")))
            for label in (resource.get("meta") or {}).get("security") or ()
            if isinstance(label, dict) and label.get("code")
        )
        return Subject(rt, str(rid) if rid else None, patients, labels, _organization(rt, resource))

    def authorize(self, ctx: RequestContext, action: str, rt: str) -> None:
        self.policy.authorize(ctx, action, rt)

    def check(self, ctx: RequestContext, action: str, rt: str, resource: dict[str, Any] | None) -> None:
        """Type-level, then (for a resource) instance-level permission; raises Forbidden."""
        self.policy.authorize(ctx, action, rt)
        if resource is not None and not self.policy.permitted(ctx, action, [self.subject(resource)])[0]:
            raise Forbidden(f"not permitted to {action} this {rt}", code="security.not_permitted")

    def visible(
        self, ctx: RequestContext, action: str, resources: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The resources the context may see, in their order."""
        if not resources:
            return []
        verdicts = self.policy.permitted(ctx, action, [self.subject(r) for r in resources])
        return [r for r, ok in zip(resources, verdicts, strict=True) if ok]

    def restrict(self, ctx: RequestContext, action: str, query: Query) -> Query:
        """The query with the policy's constraints on its type and on every chained target.

        A search scoped to one patient (`subject=Patient/x`, the usual question of a clinical
        system) asks the policy about that patient once, instead of checking the patient of every
        candidate row: if the patient is visible only the type's other constraints (labels) remain;
        if not, nothing matches.
        """
        rt = query.resource_type
        criteria = tuple(self._restrict_criterion(ctx, action, c) for c in query.criteria)
        param = patient_param(self.registry, rt)
        scoped = _scoped_patient(query.criteria, param) if param else None
        if scoped is not None:
            if not self.policy.permitted(ctx, action, [Subject("Patient", scoped, (scoped,))])[0]:
                return Query(rt, criteria, query.sort, (*query.constraints, IdIn(())))
            constraints = self.policy.constraints(ctx, action, rt, None)
        else:
            constraints = self._constraints(ctx, action, rt)
        return Query(rt, criteria, query.sort, (*query.constraints, *constraints))

    def constraints(self, ctx: RequestContext, action: str, rt: str) -> tuple[Criterion, ...]:
        """The policy's constraints on resources of `rt` for this context (none: unrestricted)."""
        return self._constraints(ctx, action, rt)

    def is_restricted(self, ctx: RequestContext, action: str, rt: str | None) -> bool:
        """Whether the policy limits what this context sees of `rt` (all types when None)."""
        return bool(self._constraints(ctx, action, rt or "Patient"))

    def _constraints(self, ctx: RequestContext, action: str, rt: str) -> tuple[Criterion, ...]:
        return self.policy.constraints(ctx, action, rt, patient_param(self.registry, rt))

    def _restrict_criterion(self, ctx: RequestContext, action: str, c: Criterion) -> Criterion:
        if isinstance(c, Chain):
            inner = tuple(self._restrict_criterion(ctx, action, x) for x in c.criteria)
            return Chain(c.param, c.target_type, (*inner, *self._constraints(ctx, action, c.target_type)))
        if isinstance(c, ReverseChain):
            inner = tuple(self._restrict_criterion(ctx, action, x) for x in c.criteria)
            extra = self._constraints(ctx, action, c.source_type)
            return ReverseChain(c.source_type, c.param, (*inner, *extra))
        if isinstance(c, AnyOf):
            return AnyOf(tuple(self._restrict_criterion(ctx, action, x) for x in c.options))
        if isinstance(c, AllOf):
            return AllOf(tuple(self._restrict_criterion(ctx, action, x) for x in c.parts))
        if isinstance(c, Not):
            return Not(self._restrict_criterion(ctx, action, c.criterion))
        return c


_SCOPING_PARAMS = ("patient", "subject")


def _scoped_patient(criteria: tuple[Criterion, ...], param: str) -> str | None:
    """The one Patient id a search is restricted to by a top-level reference criterion, if any."""
    for c in criteria:
        options = c.options if isinstance(c, AnyOf) and len(c.options) == 1 else (c,)
        match = options[0]
        if not isinstance(match, IndexMatch) or match.kind != "reference":
            continue
        if match.param not in (param, *_SCOPING_PARAMS):
            continue
        conds = {(x.column, x.op): x.value for x in match.conds}
        target, kind = conds.get(("target_id", "=")), conds.get(("target_type", "="))
        typed = kind == "Patient" and len(match.conds) == 2
        # `patient=x` names a Patient by definition of the parameter; `subject=x` could be a Group
        bare = kind is None and match.param == "patient" and len(match.conds) == 1
        if isinstance(target, str) and (typed or bare):
            return target
    return None


def _organization(rt: str, resource: dict[str, Any]) -> str | None:
    field = _ORGANIZATION_FIELD.get(rt)
    ref = resource.get(field) if field else None
    value = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(value, str) and value.startswith("Organization/"):
        return value.split("/", 1)[1]
    return None
