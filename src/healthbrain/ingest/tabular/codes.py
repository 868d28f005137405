"""The terminology service as the tabular mapping sees it: code lookups, translations, review sightings."""

from __future__ import annotations

from typing import Any

from healthbrain.ingest.tabular.loader import Sightings
from healthbrain.terminology import Sighting, TerminologyService, enrich, institution_of


class TerminologyCodes:
    """`CodeLookup` over the terminology service's index."""

    def __init__(self, service: TerminologyService) -> None:
        self.service = service

    def translate(self, system: str, code: str, target_system: str) -> list[dict[str, Any]]:
        return self.service.translate_coding(system, code, target_system)

    def display(self, system: str, code: str, language: str | None) -> tuple[bool | None, str | None, str]:
        cs = self.service.index.snapshot.code_system(system)
        if cs is None:
            return None, None, code
        concept = cs.get(code)
        if concept is None:
            return False, None, code
        return True, concept.display_in(language), concept.code


def review_sightings(service: TerminologyService) -> Sightings:
    """Record the local codes of written resources that no map knows, in the review queue."""

    def record(written: list[tuple[str, str, dict[str, Any]]]) -> None:
        for rt, rid, resource in written:
            _, unmapped = enrich(resource, lambda _s, _c: [], service.is_local)
            for u in unmapped:
                sighting = Sighting(u.system, u.code, u.display, institution_of(u.system), u.element, rt, rid)
                service.reviews.record(sighting, service.clock())

    return record
