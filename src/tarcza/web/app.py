"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from tarcza import __version__
from tarcza.accounts import pages as account_pages
from tarcza.accounts import routes as account_routes
from tarcza.accounts.auth import AuthService
from tarcza.accounts.rules import LockoutPolicy, SessionPolicy
from tarcza.accounts.service import AccountService
from tarcza.audit import pages as audit_pages
from tarcza.audit import routes as audit_routes
from tarcza.cases import pages as case_pages
from tarcza.cases import routes as case_routes
from tarcza.cases.service import CaseService
from tarcza.config import Settings, get_settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing import routes as hashing_routes
from tarcza.hashing.images import ImageLimits
from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import RateLimiter
from tarcza.hotline import pages as hotline_pages
from tarcza.hotline import routes as hotline_routes
from tarcza.hotline import stats_pages as hotline_stats_pages
from tarcza.hotline.service import HotlineService, deployment_of
from tarcza.hotline.trace import Geo, Resolver
from tarcza.intake import pages as intake_pages
from tarcza.intake import routes as intake_routes
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.intake.service import IntakeService, ThrottlePolicy
from tarcza.jobs.queue import make_huey, start_in_process
from tarcza.jobs.tasks import JobContext, register
from tarcza.store.engine import Database, make_database
from tarcza.web import errors
from tarcza.web.context import AppContext, make_templates
from tarcza.web.middleware import BodyLimit, SecurityHeaders


def build_context(settings: Settings, db: Database | None = None) -> AppContext:
    """Wire the collaborators from ``settings`` (a given ``db`` is used as is)."""
    database = db or make_database(settings.resolved_database_url, settings)
    keyring = KeyRing(load_keys(settings))
    matcher = Matcher(database, Path(settings.var_dir) / "index")
    intake = IntakeService(
        database,
        keyring,
        EvidenceStore(Path(settings.resolved_evidence_dir), keyring),
        image_limits=ImageLimits(
            max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels
        ),
        throttle=ThrottlePolicy(per_reference=settings.pin_max_failures),
        matcher=matcher,
        owner_agency=settings.intake_agency,
    )
    evidence = EvidenceStore(Path(settings.resolved_evidence_dir), keyring)
    resolver = Resolver(settings.dns_nameservers, settings.dns_timeout_seconds)
    jobs = make_huey(settings)
    tasks = register(jobs, lambda: JobContext(settings, database, resolver))
    return AppContext(
        settings=settings,
        db=database,
        keyring=keyring,
        intake=intake,
        auth=AuthService(
            database,
            keyring,
            sessions=SessionPolicy(
                idle=timedelta(minutes=settings.session_idle_minutes),
                absolute=timedelta(hours=settings.session_absolute_hours),
            ),
            lockout=LockoutPolicy(
                per_account=settings.login_max_failures,
                lock=timedelta(minutes=settings.login_lock_minutes),
            ),
        ),
        accounts=AccountService(database, keyring),
        cases=CaseService(
            database,
            keyring,
            evidence,
            image_limits=ImageLimits(
                max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels
            ),
            reveal_seconds=settings.reveal_seconds,
        ),
        hotline=HotlineService(
            database,
            keyring,
            deployment_of(settings),
            resolver,
            Geo(),
            after_actions=tasks.send_notices,
        ),
        jobs=jobs,
        templates=make_templates(),
        matcher=matcher,
        rate_limiter=RateLimiter(settings.partner_rate_per_second, settings.partner_burst),
    )


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """The tarcza web application: public pages and the API."""
    settings = settings or get_settings()
    ctx = build_context(settings, db)
    # Evidence must never touch the disk unsealed: keep uploads in memory
    # (their size is already capped by BodyLimit and max_file_bytes).
    MultiPartParser.spool_max_size = settings.max_file_bytes + 1

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        consumer = start_in_process(ctx.jobs) if settings.jobs_in_process else None
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(
        lifespan=lifespan,
        title="tarcza",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.include_router(intake_routes.router)
    app.include_router(hashing_routes.router)
    app.include_router(hashing_routes.hma_router)
    app.include_router(intake_pages.router)
    app.include_router(account_routes.router)
    app.include_router(account_pages.router)
    app.include_router(case_routes.router)
    app.include_router(case_pages.router)
    app.include_router(audit_routes.router)
    app.include_router(audit_pages.router)
    app.include_router(hotline_pages.router)
    app.include_router(hotline_routes.router)
    app.include_router(hotline_stats_pages.router)
    app.mount("/static", StaticFiles(packages=[("tarcza.web", "static")]), name="static")

    def limit_for(content_type: str) -> int:
        if content_type.startswith("multipart/form-data"):
            return settings.max_multipart_bytes
        return settings.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders, hsts=settings.production)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            report_schema = intake_routes.report_schema()
            components.update(report_schema.pop("$defs", {}))
            components["ReportIn"] = report_schema
            intake_routes.document_limits(schema, max_files=settings.max_files)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
