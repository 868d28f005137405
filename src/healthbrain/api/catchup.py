"""Catch-up after a bulk load: lagging subscribers are delivered to by processes of their own.

The dispatcher runs its subscribers one after another in one thread of the server: after the
ingest of a whole region (millions of events) the patient index, quality, surveillance and
terminology would take turns for most of an hour on one core. At start, a server that finds
subscribers at least `catch_up_min_events` behind pauses them in its own dispatcher and hands each
to a pool of worker processes; a worker builds the same services (`create_app`), delivers to that
one subscriber up to the head and takes the next. Each subscriber keeps one reader at a time and
its own cursor, so its order is the dispatcher's; when a worker is done with one, the server's
dispatcher resumes it and delivers what came in meanwhile. Subscribers that read what another
one writes already allow for running ahead of it (surveillance reconciles cases recorded before
the patient index linked them). A worker that fails gives its subscriber back to the server.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from typing import Any

from healthbrain.core.processes import die_with_parent
from healthbrain.core.settings import Settings
from healthbrain.fhir.events import EventDispatcher

__all__ = ["CatchUp"]

log = logging.getLogger("healthbrain.events")
MAX_WORKERS = 4


class CatchUp:
    """Runs at a server's start; `done` is set when every handed-out subscriber is back."""

    def __init__(self, settings: Settings, dispatcher: EventDispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.done = threading.Event()
        self.figures: dict[str, dict[str, float]] = {}  # subscriber -> events, seconds
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._queues: tuple[Any, ...] = ()
        self._thread: threading.Thread | None = None

    def workers(self) -> int:
        wanted = self.settings.events.catch_up_workers
        return min(os.cpu_count() or 1, MAX_WORKERS) if wanted is None else wanted

    def lagging(self) -> list[str]:
        """Subscribers at least `catch_up_min_events` behind the outbox head, in registration order."""
        head = self.dispatcher.outbox_head()
        least = self.settings.events.catch_up_min_events
        return [n for n in self.dispatcher.subscribers if head - self.dispatcher.position(n) >= least]

    def start(self) -> bool:
        """Hand the lagging subscribers to worker processes; False when there is nothing to hand."""
        workers = self.workers()
        names = self.lagging() if workers > 1 else []
        if not names:
            self.done.set()
            return False
        self.dispatcher.pause(set(names))
        log.info("events.catch_up_started", extra={"fields": {"subscribers": len(names), "workers": workers}})
        # the workers write their audit trail from a thread: a writer process each is not needed
        worker_settings = self.settings.model_copy(
            update={
                "security": self.settings.security.model_copy(update={"audit_writer": "thread"}),
                "events": self.settings.events.model_copy(update={"catch_up_workers": 0}),
            }
        )
        context = multiprocessing.get_context("spawn")  # no fork: the server runs threads
        tasks: Any = context.Queue()
        results: Any = context.Queue()
        # held here: a started Process lets go of its arguments, and a queue collected in this
        # process takes its semaphore with it before the worker has opened it
        self._queues = (tasks, results)
        for name in names:
            tasks.put(name)
        count = min(workers, len(names))
        for _ in range(count):
            tasks.put(None)  # one end mark per worker
        self._processes = [
            context.Process(
                target=_work,
                args=(worker_settings, os.getpid(), tasks, results),
                name="healthbrain-catch-up",
                daemon=True,
            )
            for _ in range(count)
        ]
        for process in self._processes:
            process.start()
        self._thread = threading.Thread(
            target=self._collect, args=(set(names), results), name="healthbrain-catch-up", daemon=True
        )
        self._thread.start()
        return True

    def _collect(self, pending: set[str], results: Any) -> None:
        try:
            while pending:
                try:
                    name, events, seconds, error = results.get(timeout=1.0)
                except queue.Empty:
                    if not any(p.is_alive() for p in self._processes):  # the workers are gone
                        log.warning("events.catch_up_ended", extra={"fields": {"left": len(pending)}})
                        return
                    continue
                pending.discard(name)
                if error:  # the server's dispatcher takes the subscriber back
                    fields = {"subscriber": name, "error": error}
                    log.warning("events.catch_up_failed", extra={"fields": fields})
                else:
                    self.figures[name] = {"events": events, "seconds": round(seconds, 1)}
                    fields = {"subscriber": name, "events": events, "seconds": round(seconds, 1)}
                    log.info("events.caught_up", extra={"fields": fields})
                self.dispatcher.resume(name)
        finally:
            for name in pending:
                self.dispatcher.resume(name)
            self.done.set()

    def stop(self) -> None:
        """At shutdown: the workers stop where they are (each commits its cursor batch by batch)."""
        for process in self._processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
        for name in list(self.dispatcher.paused):
            self.dispatcher.resume(name)


# ---- the worker processes ---------------------------------------------------------------------------
def _work(settings: Settings, parent: int, tasks: Any, results: Any) -> None:
    """A worker: build the server's services once, then deliver to one subscriber after another."""
    die_with_parent(parent)
    from healthbrain.api.app import create_app  # the same wiring as the server's

    app = create_app(settings)
    audit = app.state.hb.security.audit
    audit.start()
    try:
        while (name := tasks.get()) is not None:
            started = time.perf_counter()
            try:
                events = app.state.dispatcher.drain_one(name)
            except Exception as exc:
                results.put((name, 0, 0.0, type(exc).__name__))
            else:
                results.put((name, events, time.perf_counter() - started, ""))
    finally:
        audit.stop()
