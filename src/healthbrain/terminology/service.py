"""The terminology service: the index built from stored resources, the operations with policy and audit,
and the subscribers that keep the index current and map (or queue) local codes in arriving data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthbrain.core.context import RequestContext, system_context
from healthbrain.core.errors import Conflict, Gone, HealthBrainError, NotFound, PreconditionFailed
from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import instant
from healthbrain.fhir.transaction import process_transaction
from healthbrain.terminology import codesystem_ops, conceptmap_ops, valueset_ops
from healthbrain.terminology.expansion import ExpansionCache
from healthbrain.terminology.index import TERMINOLOGY_TYPES, TerminologyIndex
from healthbrain.terminology.local_maps import LOCAL_PREFIXES, institution_of, is_local_system
from healthbrain.terminology.localcodes import CODED_TYPES, enrich
from healthbrain.terminology.model import CodeSystemEntry, ConceptMapEntry, ValueSetEntry
from healthbrain.terminology.params import OpParams
from healthbrain.terminology.store import ReviewStore, Sighting

log = logging.getLogger("healthbrain.terminology")
INDEX_SUBSCRIBER = "terminology.index"
LOCAL_CODE_SUBSCRIBER = "terminology.local-codes"
PAGE = 100


@dataclass(slots=True)
class LoadSummary:
    """What loading content did, per status (created, updated, unchanged), with the resources written."""

    counts: dict[str, int] = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)


class TerminologyService:
    """Terminology operations over an in-memory index of the repository's terminology resources."""

    def __init__(
        self,
        repo: FhirRepository,
        *,
        local_prefixes: tuple[str, ...] = LOCAL_PREFIXES,
        map_arriving_codes: bool = True,
        max_expansion: int = valueset_ops.DEFAULT_MAX_EXPANSION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.index = TerminologyIndex()
        self.cache = ExpansionCache()
        self.reviews = ReviewStore(repo.engine)
        self.local_prefixes = local_prefixes
        self.map_arriving_codes = map_arriving_codes
        self.max_expansion = max_expansion
        self.clock = clock
        self._indexed_version: dict[tuple[str, str], int] = {}

    # ---- the index ---------------------------------------------------------------------------------
    def load(self) -> int:
        """(Re)build the index from every stored CodeSystem, ValueSet and ConceptMap; returns the count."""
        ctx = system_context()
        found: list[dict[str, Any]] = []
        for rt in sorted(TERMINOLOGY_TYPES):
            offset = 0
            while True:
                page = run_search(self.repo, ctx, rt, [("_count", str(PAGE)), ("_offset", str(offset))])
                found.extend(page.matches)
                if not page.has_next:
                    break
                offset += PAGE
        indexed = self._put_many(found)
        log.info("terminology.loaded", extra={"fields": {"resources": len(found), "indexed": indexed}})
        return indexed

    def _put_many(self, resources: Iterable[dict[str, Any]]) -> int:
        good = []
        for resource in resources:
            try:
                self.index.put_many([resource])  # parse alone first: one bad resource must not hide the rest
                good.append(resource)
            except HealthBrainError as err:
                log.warning(
                    "terminology.unusable_resource",
                    extra={
                        "fields": {
                            "type": resource.get("resourceType"),
                            "id": resource.get("id"),
                            "error": err.code,
                        }
                    },
                )
        return len(good)

    def register(self, dispatcher: EventDispatcher) -> None:
        """Keep the index current, and map or queue local codes in every arriving clinical resource."""
        dispatcher.register(
            INDEX_SUBSCRIBER, self.on_terminology_change, resource_types=set(TERMINOLOGY_TYPES)
        )
        if self.map_arriving_codes:
            dispatcher.register(
                LOCAL_CODE_SUBSCRIBER, self.on_clinical_change, resource_types=set(CODED_TYPES)
            )

    def on_terminology_change(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        if event.action == "delete" or resource is None:
            self.index.remove(event.resource_type, event.resource_id)
            return
        current = self.index.snapshot.resource_entry(event.resource_type, event.resource_id)
        if current is not None and event.version_id < self._indexed_version.get(
            (event.resource_type, event.resource_id), 0
        ):
            return  # an older version redelivered after a newer one was indexed
        try:
            self.index.put(resource)
            self._indexed_version[(event.resource_type, event.resource_id)] = event.version_id
        except HealthBrainError as err:
            self.index.remove(event.resource_type, event.resource_id)
            log.warning(
                "terminology.unusable_resource",
                extra={"fields": {"type": event.resource_type, "id": event.resource_id, "error": err.code}},
            )

    # ---- local codes in arriving data ------------------------------------------------------------
    def is_local(self, system: str | None) -> bool:
        return is_local_system(system, self.local_prefixes)

    def translate_coding(
        self, system: str, code: str, target_system: str | None = None
    ) -> list[dict[str, Any]]:
        """The standard codings a local (or any) code maps to, as Coding dicts with displays."""
        snapshot = self.index.snapshot
        out = []
        for m in conceptmap_ops.map_code(snapshot, system, code, target_system=target_system):
            if not m.is_result:
                continue
            display = m.display
            if display is None and m.system:
                cs = snapshot.code_system(m.system)
                concept = cs.get(m.code or "") if cs else None
                display = concept.display if concept else None
            coding = {"system": m.system, "code": m.code}
            if display:
                coding["display"] = display
            out.append(coding)
        return out

    def on_clinical_change(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Add mapped standard codes (a new version) or queue what no map knows."""
        if event.action == "delete" or resource is None:
            return
        changed, unmapped = enrich(resource, self.translate_coding, self.is_local)
        for u in unmapped:
            self.reviews.record(
                Sighting(
                    u.system,
                    u.code,
                    u.display,
                    institution_of(u.system),
                    u.element,
                    event.resource_type,
                    event.resource_id,
                ),
                self.clock(),
            )
        if changed is not None:
            try:
                self.repo.update(
                    system_context(),
                    event.resource_type,
                    event.resource_id,
                    changed,
                    if_match=event.version_id,
                )
            except (PreconditionFailed, Conflict):
                return  # a newer version exists: its own event maps it

    # ---- operations (policy and audit around the pure functions) ----------------------------------
    def _run(
        self, ctx: RequestContext, rt: str, rid: str | None, op: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        with self.repo.audited(ctx, "operation", rt, rid):
            self.repo.guard.authorize(ctx, "read", rt)
            return op()

    def _instance(self, rt: str, rid: str | None) -> Any:
        if rid is None:
            return None
        entry = self.index.snapshot.resource_entry(rt, rid)
        if entry is None:
            raise NotFound(f"{rt}/{rid} is not known", code="fhir.not_found")
        return entry

    def lookup(self, ctx: RequestContext, params: OpParams) -> dict[str, Any]:
        return self._run(ctx, "CodeSystem", None, lambda: codesystem_ops.lookup(self.index.snapshot, params))

    def validate_code_system(
        self, ctx: RequestContext, params: OpParams, rid: str | None = None
    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cs: CodeSystemEntry | None = self._instance("CodeSystem", rid)
            return codesystem_ops.validate_code(self.index.snapshot, params, cs)

        return self._run(ctx, "CodeSystem", rid, run)

    def subsumes(self, ctx: RequestContext, params: OpParams, rid: str | None = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cs: CodeSystemEntry | None = self._instance("CodeSystem", rid)
            return codesystem_ops.subsumes(self.index.snapshot, params, cs)

        return self._run(ctx, "CodeSystem", rid, run)

    def expand(self, ctx: RequestContext, params: OpParams, rid: str | None = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            vs: ValueSetEntry | None = self._instance("ValueSet", rid)
            return valueset_ops.expand(
                self.index.snapshot,
                self.cache,
                params,
                vs,
                now=instant(self.clock()),
                max_expansion=self.max_expansion,
            )

        return self._run(ctx, "ValueSet", rid, run)

    def validate_value_set(
        self, ctx: RequestContext, params: OpParams, rid: str | None = None
    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            vs: ValueSetEntry | None = self._instance("ValueSet", rid)
            return valueset_ops.validate_code(self.index.snapshot, self.cache, params, vs)

        return self._run(ctx, "ValueSet", rid, run)

    def translate(self, ctx: RequestContext, params: OpParams, rid: str | None = None) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cm: ConceptMapEntry | None = self._instance("ConceptMap", rid)
            return conceptmap_ops.translate(self.index.snapshot, params, cm)

        return self._run(ctx, "ConceptMap", rid, run)


def load_content(
    repo: FhirRepository, ctx: RequestContext, resources: Sequence[dict[str, Any]]
) -> LoadSummary:
    """Write terminology resources through the repository, one transaction each (PUT by id: reruns no-op)."""
    summary = LoadSummary()
    for resource in resources:
        rt, rid = resource["resourceType"], resource["id"]
        try:
            before: int | None = repo.read(ctx, rt, rid).version_id
        except (NotFound, Gone):
            before = None
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": resource, "request": {"method": "PUT", "url": f"{rt}/{rid}"}}],
        }
        result = process_transaction(repo, ctx, bundle)[0]
        after = result.versioned.version_id if result.versioned is not None else None
        status = "created" if before is None else "unchanged" if after == before else "updated"
        summary.counts[status] = summary.counts.get(status, 0) + 1
        summary.resources.append(f"{rt}/{rid}")
    return summary
