"""The CDS service: Observation and MedicationRequest subscribers, and the escalation/delivery loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from healthbrain.cds.alerts import AlertService
from healthbrain.cds.context import ClinicalContext
from healthbrain.cds.escalation import escalate_due
from healthbrain.cds.knowledge import KnowledgeHolder
from healthbrain.cds.notify import AlertHub, WebhookSender
from healthbrain.cds.prescribing import PrescriptionAuditor
from healthbrain.cds.results import ResultsHandler
from healthbrain.cds.review import ReviewQueue
from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.store import CdsStore
from healthbrain.cds.store_admin import AdminStore
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository

__all__ = ["OBSERVATION_SUBSCRIBER", "PRESCRIPTION_SUBSCRIBER", "CdsService"]

log = logging.getLogger("healthbrain.cds")
OBSERVATION_SUBSCRIBER = "cds:observations"
PRESCRIPTION_SUBSCRIBER = "cds:prescriptions"


class CdsService:
    """Everything CDS, wired once per process by the entry point."""

    def __init__(
        self,
        repo: FhirRepository,
        settings: CdsSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.settings = settings or CdsSettings()
        self.clock = clock
        self.store = CdsStore(repo.engine, clock)
        self.admin = AdminStore(repo.engine, clock)
        self.knowledge = KnowledgeHolder(self.admin)
        self.hub = AlertHub()
        self.context = ClinicalContext(
            repo, self.store, lambda: self.knowledge.current, self.settings.cache_seconds
        )
        self.alerts = AlertService(repo, self.store, self.admin, self.hub, self.settings, clock)
        self.results = ResultsHandler(
            self.store, self.context, self.alerts, lambda: self.knowledge.current, self.settings
        )
        self.auditor = PrescriptionAuditor(
            self.context, self.alerts, self.admin, lambda: self.knowledge.current, self.settings, clock
        )
        self.reviews = ReviewQueue(self.admin, self.alerts, clock)
        self.webhooks = WebhookSender(self.admin, self.store, self.settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, dispatcher: EventDispatcher) -> None:
        """Subscribe to new Observation and MedicationRequest versions (from now on, at least once)."""
        dispatcher.register(
            OBSERVATION_SUBSCRIBER,
            self.results.handle,
            resource_types={"Observation"},
            from_now=True,
            after_batch=self.store.flush_labs,  # tracked results are written once per batch
        )
        dispatcher.register(
            PRESCRIPTION_SUBSCRIBER, self.auditor.handle, resource_types={"MedicationRequest"}, from_now=True
        )

    def tick(self, now: float | None = None) -> tuple[int, int]:
        """One round of background work: (alerts escalated, webhooks delivered)."""
        now = self.clock() if now is None else now
        escalated = escalate_due(self.alerts, now)
        delivered = self.webhooks.deliver_due(now)
        self.knowledge.reload()
        return escalated, delivered

    # ---- background loop ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="healthbrain-cds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.webhooks.close()
        self.store.flush_labs()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.tick_seconds):
            try:
                self.tick()
            except Exception:  # the loop must survive a failed round; the next one retries
                log.exception("cds.tick_failed")
