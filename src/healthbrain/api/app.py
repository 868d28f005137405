"""The ASGI application: wires settings, storage, repository, events and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthbrain import __version__
from healthbrain.api.auth_routes import router as auth_router
from healthbrain.api.bulk_routes import router as bulk_router
from healthbrain.api.catchup import CatchUp
from healthbrain.api.cds_routes import install as install_cds
from healthbrain.api.deps import AppState
from healthbrain.api.fhir_routes import router as fhir_router
from healthbrain.api.governance_routes import build_governance
from healthbrain.api.governance_routes import install as install_governance
from healthbrain.api.mpi_routes import install as install_mpi
from healthbrain.api.pages import router as pages_router
from healthbrain.api.quality_routes import install as install_quality
from healthbrain.api.responses import FhirResponse
from healthbrain.api.security_routes import router as security_router
from healthbrain.api.surveillance_routes import install as install_surveillance
from healthbrain.api.terminology_routes import install as install_terminology
from healthbrain.api.ui import install_ui
from healthbrain.core.db import create_db_engine
from healthbrain.core.errors import HealthBrainError, Issue
from healthbrain.core.i18n import explain, negotiate
from healthbrain.core.logging import configure_logging
from healthbrain.core.settings import Settings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.export import ExportService
from healthbrain.fhir.outcome import operation_outcome, outcome_from_error
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.subscriptions import SubscriptionNotifier
from healthbrain.security import SecurityServices
from healthbrain.storage.migrate import upgrade_database
from healthbrain.storage.store import SqlResourceStore

log = logging.getLogger("healthbrain.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the schema is brought up to date on start-up."""
    settings = settings or Settings()
    settings.check_secrets()
    configure_logging()
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    security = SecurityServices.build(engine, settings.security)
    governance = build_governance(engine, security, settings, settings.security.anomaly)  # anomaly detection
    protector = security.protector
    # subscribers read through a store that reveals sealed values, like the repository's
    events_store = SqlResourceStore(reveal=protector.reveal_text if protector is not None else None)
    dispatcher = EventDispatcher(engine, settings.events, store=events_store)
    repo = FhirRepository(
        engine,
        **{**security.repository_options(), "policy": governance.policy(security.policy)},
        validate=settings.validate_on_write,
        base_url=settings.api.base_url,
        default_count=settings.api.default_page_size,
        max_count=settings.api.max_page_size,
        on_commit=dispatcher.wake,
    )
    SubscriptionNotifier(repo).register(dispatcher)
    exports = ExportService(repo, settings.export_dir, settings.api.base_url)
    catch_up = CatchUp(settings, dispatcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        security.audit.start()
        governance.start()
        catch_up.start()  # after a bulk load: lagging subscribers go to worker processes
        dispatcher.start()
        exports.start()
        try:
            yield
        finally:
            exports.stop()
            catch_up.stop()
            dispatcher.stop()
            security.audit.checkpoint_now()
            security.audit.stop()
            governance.stop()
            engine.dispose()

    app = FastAPI(
        title="HealthBrain 健康大脑",
        version=__version__,
        lifespan=lifespan,
        description="Regional health data and AI platform — FHIR R4 repository and services.",
    )
    app.state.hb = AppState(settings=settings, repo=repo, exports=exports, security=security)
    app.state.dispatcher = dispatcher
    app.state.catch_up = catch_up
    app.include_router(pages_router)
    app.include_router(auth_router)
    app.include_router(security_router)
    app.include_router(bulk_router)
    install_mpi(app, repo, dispatcher)  # before the FHIR router: Patient/$match
    install_cds(app, repo, dispatcher)
    install_surveillance(app, repo, dispatcher)  # after the patient index: it resolves residents
    install_quality(app, repo, dispatcher)  # after the patient index: results of the same resident
    install_governance(app, repo, governance)
    install_terminology(app, repo, dispatcher)  # before the FHIR router: ValueSet/$expand ...
    app.include_router(fhir_router)
    install_ui(app)  # the cockpit, over the routers above (it calls them in-process)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HealthBrainError)
    async def _hb_error(request: Request, exc: HealthBrainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        text = explain(
            exc.code, negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
        )
        return FhirResponse(outcome_from_error(exc, text), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        issues = [
            Issue(
                "error",
                "invalid",
                str(e.get("msg", "invalid request")),
                ".".join(str(p) for p in e.get("loc", ())),
            )
            for e in exc.errors()
        ]
        return FhirResponse(operation_outcome(issues), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        code = "not-found" if exc.status_code == 404 else "processing"
        detail = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return FhirResponse(operation_outcome([Issue("error", code, detail)]), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"fields": {"error": type(exc).__name__}})
        return FhirResponse(
            operation_outcome([Issue("fatal", "exception", "internal server error")]), status_code=500
        )
