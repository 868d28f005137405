"""Wiring the patient index: the starting model, opening an index on a database, the Patient subscriber."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import Engine

from healthbrain.fhir.events import ChangeEvent, EventDispatcher
from healthbrain.mpi.chinese import chinese_settings
from healthbrain.mpi.index import PatientIndex
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.pipeline import LinkSettings
from healthbrain.mpi.sealing import KeyRingSealer, PlainSealer, Sealer
from healthbrain.security import SecurityServices

log = logging.getLogger("healthbrain.mpi")
SUBSCRIBER = "mpi.patient-index"


def default_model() -> MatchModel:
    """The model shipped with HealthBrain (trained on simulated residents), used until the first
    batch re-link trains one on the region's own records."""
    raw = resources.files("healthbrain.mpi").joinpath("data/default_model.json").read_bytes()
    return MatchModel.from_json(orjson.loads(raw))


def sealer_for(security: SecurityServices) -> Sealer:
    """How the deployment keeps the index's identifying rows: sealed with its key ring when
    identifiers are encrypted at rest (the default), as they are otherwise."""
    return KeyRingSealer(security.keys) if security.settings.encrypt_identifiers else PlainSealer()


def open_index(
    engine: Engine, settings: LinkSettings | None = None, *, sealer: Sealer | None = None
) -> PatientIndex:
    """A PatientIndex on `engine` with the active stored model (or the default one).

    Entry points pass `sealer_for(security)`; without a sealer rows are stored unsealed (tests).
    """
    index = PatientIndex(engine, settings or chinese_settings(), default_model(), sealer=sealer)
    with engine.connect() as conn:
        stored = index.store.active_model(conn)
    if stored is not None:
        index.model = stored
    return index


def register_subscriber(index: PatientIndex, dispatcher: EventDispatcher) -> None:
    """Match every created or changed Patient on arrival; forget deleted ones."""

    def handle(event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        ref = f"Patient/{event.resource_id}"
        if event.action == "delete" or resource is None:
            index.remove(ref)
            return
        outcome = index.ingest(resource, event.version_id)
        log.debug(  # one per Patient change: a bulk load would flood the log at INFO
            "mpi.linked",
            extra={"fields": {"patient": ref, "resident": outcome.resident_id, "state": outcome.state}},
        )

    dispatcher.register(SUBSCRIBER, handle, resource_types={"Patient"})
