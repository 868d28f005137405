"""The quarantine hook of the ingest paths: screen each unit before it is written, hold what fails.

File ingest (`ingest_path(..., quarantine=...)`) calls `screen_unit` for every transaction; the HL7
v2 pipeline and the CSV loader can do the same before their `process_transaction`:

    screened = hook.screen_unit(bundle, feed="hl7v2", source=control_id)
    process_transaction(repo, ctx, screened.bundle, also=screened.also(journal_row))

The held entries are written by `also`, inside the very transaction that writes the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from healthbrain.core.db import begin_write
from healthbrain.fhir.repository import FhirRepository
from healthbrain.quality import QuarantineScreen, RuleSet, Screening

log = logging.getLogger("healthbrain.ingest.quarantine")

FILE_FEED = "file"
HL7_FEED = "hl7v2"
TABULAR_FEED = "tabular"


@dataclass(slots=True)
class QuarantineHook:
    """Screens ingest units with the data-quality rules."""

    screen: QuarantineScreen

    def screen_unit(self, bundle: dict[str, Any], *, feed: str, source: str) -> Screening:
        """Screen a transaction Bundle; the caller writes `result.bundle` with `also=result.also(...)`
        (the held entries are recorded only if that transaction commits)."""
        result = self.screen.screen(bundle, feed=feed, source=source)
        if result.held_count:
            log.info(
                "ingest.quarantined",
                extra={"fields": {"feed": feed, "held": result.held_count, "entries": len(bundle["entry"])}},
            )
        return result

    def hold_before_batch(
        self, bundle: dict[str, Any], *, feed: str, source: str
    ) -> tuple[dict[str, Any], int]:
        """For a batch Bundle (entries independent, no shared transaction): hold the failing entries
        in their own transaction first; returns the batch of the others and how many were held."""
        result = self.screen_unit(bundle, feed=feed, source=source)
        if result.held_count:
            with begin_write(self.screen.repo.engine) as conn:
                result.write(conn)
        return result.bundle, result.held_count


def open_quarantine(repo: FhirRepository, rules: RuleSet | None = None) -> QuarantineHook:
    """The hook with the shipped (or given) rules, reading through `repo`."""
    return QuarantineHook(QuarantineScreen(repo, rules))


def chain(*steps: Callable[[Connection], None] | None) -> Callable[[Connection], None]:
    """One `also` callback running several in order (the journal row, then the held entries)."""

    def run(conn: Connection) -> None:
        for step in steps:
            if step is not None:
                step(conn)

    return run
