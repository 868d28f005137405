"""Long jobs started from the cockpit (detection over a period, patient-index re-link, audit-chain check),
run in the background with the user's own token, their progress polled by the page."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthbrain.api.ui.client import Api, ApiError
from healthbrain.api.ui.nav import may_use
from healthbrain.api.ui.web import InputProblem, Ui, client_host, page

__all__ = ["Job", "JobBoard", "router"]

log = logging.getLogger("healthbrain.ui.jobs")
router = APIRouter(include_in_schema=False)
MAX_DETECT_DAYS = 400
KEEP_SECONDS = 3600


@dataclass(slots=True)
class Job:
    """A background job: who started it, how far it is, and what came out."""

    id: str
    owner: str
    kind: str
    total: int | None  # None: one step whose length nobody knows (shown as an indeterminate bar)
    done: int = 0
    status: str = "running"  # running | done | failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def percent(self) -> int | None:
        if self.total is None or self.total <= 0:
            return 100 if self.status != "running" else None
        return min(100, round(100 * self.done / self.total))


class JobBoard:
    """The jobs of this process (a job belongs to the user who started it)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, owner: str, kind: str, total: int | None, work: Callable[[Job], Awaitable[None]]) -> Job:
        now = time.time()
        self.jobs = {
            k: j for k, j in self.jobs.items() if j.finished is None or now - j.finished < KEEP_SECONDS
        }
        job = Job(uuid.uuid4().hex, owner, kind, total)
        self.jobs[job.id] = job

        async def run() -> None:
            try:
                await work(job)
                job.status = "done"
            except ApiError as err:
                job.status, job.error = "failed", err.message
            except Exception as exc:  # the job fails visibly; the log keeps the error type
                log.exception("ui.job_failed", extra={"fields": {"job": job.id, "error": type(exc).__name__}})
                job.status, job.error = "failed", type(exc).__name__
            finally:
                job.finished = time.time()

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None


def _board(request: Request) -> JobBoard:
    board: JobBoard = request.app.state.cockpit_jobs
    return board


def _api(ui: Ui) -> Api:
    """A client of the job's own (the request's client closes when the response is sent)."""
    return Api(ui.cockpit.app, ui.session.access, ui.lang, client_host(ui.request))


def _date(value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise InputProblem("Enter dates as YYYY-MM-DD.") from None


@router.post("/ui/jobs/detect")
@page("surveillance")
async def start_detection(ui: Ui) -> Response:
    """Detection for every day of a period, one API call a day: progress counts the days."""
    first, last = _date(ui.form.get("from")), _date(ui.form.get("to"))
    days = (last - first).days + 1
    if days < 1 or days > MAX_DETECT_DAYS:
        raise InputProblem("The period must run forwards and span at most %(n)s days.", n=MAX_DETECT_DAYS)

    async def work(job: Job) -> None:
        signals: list[str] = []
        async with _api(ui) as api:
            for i in range(days):
                out = await api.post(
                    "/api/v1/surveillance/detect", {"day": (first + timedelta(days=i)).isoformat()}
                )
                signals.extend(out.get("signals") or ())
                job.done = i + 1
        job.result = {"signals": len(set(signals)), "days": days}

    job = _board(ui.request).start(ui.session.username, "detect", days, work)
    return ui.render("fragment_job.html", job=job)


@router.post("/ui/jobs/relink")
@page("datahub")
async def start_relink(ui: Ui) -> Response:
    """Re-link every indexed Patient (one long API call)."""

    async def work(job: Job) -> None:
        async with _api(ui) as api:
            job.result = await api.post("/api/v1/mpi/relink", {"train": False})

    job = _board(ui.request).start(ui.session.username, "relink", None, work)
    return ui.render("fragment_job.html", job=job)


@router.post("/ui/jobs/verify-audit")
@page("audit")
async def start_verify(ui: Ui) -> Response:
    """Verify the whole audit chain (one long API call)."""

    async def work(job: Job) -> None:
        async with _api(ui) as api:
            job.result = await api.get("/api/v1/security/audit/verify")

    job = _board(ui.request).start(ui.session.username, "verify-audit", None, work)
    return ui.render("fragment_job.html", job=job)


PAGE_OF = {"detect": "surveillance", "relink": "datahub", "verify-audit": "audit"}


@router.get("/ui/jobs/{job_id}")
@page(None, touch=False)
async def job_progress(ui: Ui) -> Response:
    job = _board(ui.request).get(ui.request.path_params.get("job_id", ""), ui.session.username)
    if job is None or not may_use(PAGE_OF[job.kind], ui.roles):
        return ui.message(404, ui.t("Not found"), ui.t("No such job (jobs are kept for an hour)."))
    return ui.render("fragment_job.html", job=job)
