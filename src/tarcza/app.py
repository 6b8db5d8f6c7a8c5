"""The composition root: the ONLY place that builds tarcza's collaborators.

``build(settings)`` makes the settings' database, key ring, evidence store, matcher, services,
job queue and the hotline's jobs, once, and every entry point takes its application from here:
``tarcza serve`` (``web``), every CLI command and ``tarcza jobs worker`` (``tarcza.cli``), and
the tests' fixtures. Concepts never import this module; they receive what they use.

Wiring between concepts happens here too: intake tells the hotline which URLs a report names
(``fold_report_urls``), casework shows the hotline's items of a report and the accounts'
colleagues, and the hotline's assessments enqueue its notice job.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarcza import __version__
from tarcza.accounts.auth import AuthService
from tarcza.accounts.rules import LockoutPolicy, SessionPolicy
from tarcza.accounts.service import AccountService
from tarcza.alerts.rules import Roster, RosterRefused, default_rules
from tarcza.alerts.service import AlertService
from tarcza.alerts.tasks import AlertTasks
from tarcza.alerts.tasks import register as register_alerts
from tarcza.cases.evidence_package import EvidencePackages, HeldPackages
from tarcza.cases.service import CaseService
from tarcza.config import ConfigError, Keys, Settings, load_keys, load_settings
from tarcza.coordination.report import ReportService
from tarcza.coordination.service import CoordinationService
from tarcza.crypto import KeyRing
from tarcza.hashing.budget import DECODE_BUDGET, return_large_frees_to_the_os
from tarcza.hashing.images import ImageLimits
from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import LookupQuota, PartnerKeys
from tarcza.helpline.directory import load_directory
from tarcza.helpline.rules import Retention
from tarcza.helpline.service import HelplineService
from tarcza.hotline.builtin_resolver import BuiltinResolver
from tarcza.hotline.deployment import deployment_of
from tarcza.hotline.folding import fold_report_urls, items_of_report
from tarcza.hotline.notices import MailTransport, SmtpSettings, SmtpTransport
from tarcza.hotline.service import HotlineService
from tarcza.hotline.tasks import HotlineTasks, HotlineWork, register
from tarcza.hotline.trace import AddressResolver, Geo, Resolver
from tarcza.hotline.views import item_records_of_report
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.intake.service import IntakeService, ReportQuotas, ThrottlePolicy
from tarcza.jobs.queue import Worker, make_huey
from tarcza.mail.catcher import MailCatcher
from tarcza.mail.rules import BUILTIN, CATCH, OfflineModeRefused, resolve_modes
from tarcza.mnr.indicators import LiveIndicators
from tarcza.mnr.service import MnrService
from tarcza.oversight.service import AuditLogReader
from tarcza.platforms.service import PlatformsService
from tarcza.schema import registry
from tarcza.selfprotect.service import ProtectPolicy, SelfProtectService
from tarcza.services import Services
from tarcza.store.engine import Database
from tarcza.store.rates import DatabaseStorage, Quota, SharedRates, make_storage

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp

# Each concept's templates folder, in the order the loader searches them.
TEMPLATE_PACKAGES = (
    "tarcza.intake",
    "tarcza.selfprotect",
    "tarcza.accounts",
    "tarcza.cases",
    "tarcza.alerts",
    "tarcza.helpline",
    "tarcza.oversight",
    "tarcza.hotline",
    "tarcza.mail",
    "tarcza.mnr",
    "tarcza.coordination",
)


@dataclass
class Application:
    """Everything one process of tarcza works with, built once by :func:`build`."""

    settings: Settings
    keys: Keys
    db: Database
    keyring: KeyRing
    evidence: EvidenceStore
    matcher: Matcher
    intake: IntakeService
    selfprotect: SelfProtectService
    auth: AuthService
    accounts: AccountService
    cases: CaseService
    packages: EvidencePackages
    hotline: HotlineService
    helpline: HelplineService
    mnr: MnrService
    coordination: CoordinationService
    reports: ReportService
    audit_log: AuditLogReader
    resolver: AddressResolver
    mail_catcher: MailCatcher | None
    rates: SharedRates
    lookup_quota: LookupQuota
    jobs: Any  # the huey queue (tarcza.jobs.queue)
    hotline_work: HotlineWork
    hotline_tasks: HotlineTasks
    alerts: AlertService
    alert_tasks: AlertTasks
    platforms: PlatformsService
    services: Services

    def worker(self, *, workers: int = 1, signals: bool = False) -> Worker:
        """A job worker for this application's queue (not started)."""
        return Worker(
            self.jobs,
            self._tick,
            tick_seconds=self.settings.jobs_tick_seconds,
            workers=workers,
            signals=signals,
        )

    def _tick(self) -> None:
        # A child in danger now first: its notifications and escalations, every tick.
        self.enqueue_alerts()
        try:
            self.hotline_tasks.tick()
        finally:  # due work that fails must not stop the audit log's protection
            self.checkpoint_audit()
            self.sweep_rates()
            self.expire_records()
            self.expire_partner_reports()
            self.refresh_figures()
            self.monthly_report()

    def monthly_report(self) -> None:
        """Make last month's report for the interministerial team, once it is over."""
        try:
            self.reports.due()
        except Exception:
            logging.getLogger("tarcza.jobs").exception("monthly report not made")

    def expire_partner_reports(self) -> None:
        """Delete the partners' /ispws reports left unfinished too long (with their files)."""
        try:
            self.platforms.expire()
        except Exception:
            logging.getLogger("tarcza.jobs").exception("unfinished partner reports not expired")

    def refresh_figures(self) -> None:
        """Count again the national figures' windows asked for lately (their snapshots)."""
        try:
            self.coordination.refresh()
        except Exception:
            logging.getLogger("tarcza.jobs").exception("national figures not refreshed")

    def enqueue_alerts(self) -> None:
        """Enqueue the danger alerts' pass (escalations, notifications due, retries)."""
        try:
            self.alert_tasks.soon()
        except Exception:
            logging.getLogger("tarcza.jobs").exception("danger alerts not enqueued")

    def expire_records(self) -> None:
        """Delete the helpline records whose retention has run out (audited per batch)."""
        try:
            self.helpline.expire()
        except Exception:
            logging.getLogger("tarcza.jobs").exception("expired records not deleted")

    def sweep_rates(self) -> None:
        """Delete the database's rate counts no window uses any more (Redis expires its own)."""
        if isinstance(self.rates.storage, DatabaseStorage):
            try:
                self.rates.storage.sweep()
            except Exception:
                logging.getLogger("tarcza.jobs").exception("rate counts not swept")

    def checkpoint_audit(self, *, at_shutdown: bool = False) -> None:
        """Write an audit checkpoint when one is due; at shutdown, whenever an entry is new.

        Logs and goes on when none can be written: a log that fails its last checkpoint is
        an alarm for the operators, not a reason to stop the worker.
        """
        from tarcza.audit import checkpoint
        from tarcza.store.base import utcnow

        settings = self.settings
        try:
            checkpoint.checkpoint_if_due(
                self.db,
                self.keys.audit_signing_key,
                checkpoint.default_path(settings.var_dir),
                utcnow(),
                every_entries=1 if at_shutdown else settings.audit_checkpoint_every_entries,
                every_minutes=0 if at_shutdown else settings.audit_checkpoint_every_minutes,
            )
        except (checkpoint.CheckpointRefused, checkpoint.CheckpointUnreadable, OSError):
            logging.getLogger("tarcza.audit").exception("no audit checkpoint written")

    def close(self) -> None:
        """Release the database's connections."""
        self.db.dispose()


def build(settings: Settings | None = None) -> Application:
    """Build the application for ``settings`` (read from the environment when not given)."""
    settings = settings or load_settings()
    keys = load_keys(settings)
    keyring = KeyRing(keys)
    db = registry.application_database(settings)
    evidence = EvidenceStore(Path(settings.resolved_evidence_dir), keyring)
    limits = ImageLimits(max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
    # One pixel budget per process bounds the memory of every image being decoded; freed
    # pixels go back to the operating system.
    DECODE_BUDGET.resize(settings.decode_pixel_budget)
    return_large_frees_to_the_os()
    matcher = Matcher(
        db, Path(settings.var_dir) / "index", staleness=settings.lookup_staleness_seconds
    )
    mail_mode, dns_mode = modes(settings)
    resolver: AddressResolver = (
        BuiltinResolver()
        if dns_mode == BUILTIN
        else Resolver(settings.dns_nameservers, settings.dns_timeout_seconds)
    )
    catcher = (
        MailCatcher(settings.var_dir / "mail", reader_agency=settings.intake_agency)
        if mail_mode == CATCH
        else None
    )
    transport: MailTransport = catcher or SmtpTransport(SmtpSettings.from_settings(settings))
    jobs = make_huey(settings)
    work = HotlineWork(settings, db, resolver, transport)
    tasks = register(jobs, work)
    accounts = AccountService(db, keyring)
    # One rate store for every process: the database, or Redis when configured.
    rates = SharedRates(make_storage(settings.rate_store, db))
    alerts = AlertService(
        db,
        keyring,
        rules_=default_rules(settings.police_agency, settings.country),
        roster=duty_roster(settings),
        staff_url=settings.staff_url,
        mailer=transport,
        sender=settings.notice_from,
        webhook_secret=settings.duty_webhook_secret,
    )
    alert_tasks = register_alerts(jobs, alerts)

    def after_report(receipt: Any) -> None:
        if receipt.child_in_danger:  # told within seconds, not at the next tick
            alert_tasks.soon()

    intake = IntakeService(
        db,
        keyring,
        evidence,
        image_limits=limits,
        throttle=ThrottlePolicy(per_reference=settings.pin_max_failures),
        matcher=matcher,
        owner_agency=settings.intake_agency,
        on_urls=fold_report_urls,
        on_report=alerts.on_report,
        after_commit=after_report,
        rates=rates,
        quotas=ReportQuotas.of(
            settings.report_rate_per_client,
            settings.report_rate_overall,
            settings.report_rate_per_partner,
        ),
        country=settings.country,
    )
    selfprotect = SelfProtectService(
        db,
        keyring,
        matcher=matcher,
        rates=rates,
        policy=ProtectPolicy(
            bank=settings.selfprotect_bank,
            review_after_cases=settings.selfprotect_review_after_cases,
            max_items_per_case=settings.selfprotect_max_items,
            per_network=Quota.of("protect-network", settings.selfprotect_rate_per_network),
            per_device=Quota.of("protect-device", settings.selfprotect_rate_per_device),
            pin_per_reference=settings.pin_max_failures,
        ),
        country=settings.country,
    )
    auth = AuthService(
        db,
        keyring,
        sessions=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
        lockout=LockoutPolicy(
            per_account=settings.login_max_failures,
            lock=timedelta(minutes=settings.login_lock_minutes),
        ),
    )
    cases = CaseService(
        db,
        keyring,
        evidence,
        image_limits=limits,
        reveal_seconds=settings.reveal_seconds,
        report_items=items_of_report,
        colleagues=accounts.colleagues,
        report_alert=alerts.of_report,
    )
    # The police's evidence packages: signed with the audit log's key (one published key).
    packages = EvidencePackages(
        cases, signing_key=keys.audit_signing_key, item_records=item_records_of_report
    )
    held_packages = HeldPackages(Path(settings.var_dir) / "packages")
    hotline = HotlineService(
        db,
        keyring,
        deployment_of(settings),
        resolver,
        Geo(),
        after_actions=tasks.send_notices,
        confirmed_bank=settings.confirmed_bank,
    )
    helpline = HelplineService(
        db,
        keyring,
        intake,
        retention=Retention(
            contacts=settings.helpline_contact_retention_days,
            cases=settings.helpline_case_retention_days,
        ),
        directory=load_directory(settings.country),
        police_agency=settings.police_agency,
        alerts=alerts,
    )
    # The MNR tracker, fed with live aggregates of the concepts' tables; the shipped catalogue's
    # agency codes are the default deployment's, mapped to this one's.
    mnr = MnrService(
        db,
        indicators=LiveIndicators(db, intake_agency=settings.intake_agency),
        agency_codes={"hotline": settings.intake_agency, "police": settings.police_agency},
    )
    coordination = CoordinationService(
        db,
        hotline_agency=settings.intake_agency,
        selfprotect_bank=settings.selfprotect_bank,
        threshold=settings.suppress_below,
        max_age=timedelta(minutes=settings.figures_max_age_minutes),
    )
    # The monthly report: the national figures and the tracker (which sits above them).
    reports = ReportService(
        coordination, db, Path(settings.var_dir) / "reports", tracker=mnr.for_report
    )
    audit_log = AuditLogReader(
        db, keys.audit_signing_key, oversight_agencies=settings.oversight_agencies
    )
    lookup_quota = LookupQuota(rates, Quota.of("lookups", settings.partner_lookup_rate))
    partner_keys = PartnerKeys(db, keyring, ttl=settings.lookup_staleness_seconds)
    # Partner platforms' CyberTipline-shaped reports, taken by intake once finished.
    platforms = PlatformsService(
        db, keyring, intake, expire_after=timedelta(hours=settings.ispws_expire_hours)
    )
    services = Services(
        {
            Settings: settings,
            Keys: keys,
            Database: db,
            KeyRing: keyring,
            EvidenceStore: evidence,
            Matcher: matcher,
            IntakeService: intake,
            SelfProtectService: selfprotect,
            AuthService: auth,
            AccountService: accounts,
            CaseService: cases,
            EvidencePackages: packages,
            HeldPackages: held_packages,
            HotlineService: hotline,
            HelplineService: helpline,
            MnrService: mnr,
            CoordinationService: coordination,
            ReportService: reports,
            AuditLogReader: audit_log,
            AlertService: alerts,
            SharedRates: rates,
            LookupQuota: lookup_quota,
            PartnerKeys: partner_keys,
            PlatformsService: platforms,
            AddressResolver: resolver,
            **({MailCatcher: catcher} if catcher is not None else {}),
        }
    )
    return Application(
        settings=settings,
        keys=keys,
        db=db,
        keyring=keyring,
        evidence=evidence,
        matcher=matcher,
        intake=intake,
        selfprotect=selfprotect,
        auth=auth,
        accounts=accounts,
        cases=cases,
        packages=packages,
        hotline=hotline,
        helpline=helpline,
        mnr=mnr,
        coordination=coordination,
        reports=reports,
        audit_log=audit_log,
        resolver=resolver,
        mail_catcher=catcher,
        rates=rates,
        lookup_quota=lookup_quota,
        jobs=jobs,
        hotline_work=work,
        hotline_tasks=tasks,
        alerts=alerts,
        alert_tasks=alert_tasks,
        platforms=platforms,
        services=services,
    )


# Development's duty desk when none is configured: its mail shows in the mail catcher.
DEMO_DUTY_CONTACT = "dyzurny@policja.example"


def duty_roster(settings: Settings) -> Roster:
    """The police duty desk's roster; ConfigError when it cannot work."""
    contacts = list(settings.duty_contacts)
    if not contacts and not settings.production:
        contacts = [DEMO_DUTY_CONTACT]
    if not contacts:
        logging.getLogger("tarcza.alerts").error(
            "TARCZA_DUTY_CONTACTS is empty: no one is told of a child in danger now"
        )
    try:
        return Roster(
            contacts=tuple(contacts),
            escalate_after=timedelta(minutes=settings.duty_escalate_minutes),
            webhook_url=settings.duty_webhook_url,
            retry_after=timedelta(seconds=settings.duty_retry_seconds),
            max_tries=settings.duty_max_tries,
        )
    except RosterRefused as exc:
        raise ConfigError(str(exc)) from None


def modes(settings: Settings) -> tuple[str, str]:
    """The (mail, dns) modes in force; ConfigError when production asks for an offline one."""
    try:
        return resolve_modes(
            settings.env,
            settings.mail,
            settings.dns,
            nameservers=settings.dns_nameservers,
            smtp_configured=bool({"smtp_host", "smtp_port"} & settings.model_fields_set),
        )
    except OfflineModeRefused as exc:
        raise ConfigError(str(exc)) from None


def web(
    application: Application, *, close_on_shutdown: bool = True, freeze: bool = False
) -> FastAPI:
    """The web application (public pages, staff pages, the API) over ``application``.

    ``freeze``: once started, the objects made so far are left out of the garbage collector's
    full collections (``gc.freeze``): for the server's processes, not for tests that make many
    applications in one process (frozen objects are never freed).
    """
    # Imported here, not at the top: a CLI command or the worker needs none of the web side,
    # and importing every page costs each such process about two seconds.
    from fastapi import FastAPI
    from fastapi.openapi.utils import get_openapi
    from fastapi.staticfiles import StaticFiles

    from tarcza.accounts import pages as account_pages
    from tarcza.accounts import routes as account_routes
    from tarcza.accounts.layout import staff_page_values
    from tarcza.alerts import pages as alert_pages
    from tarcza.alerts import routes as alert_routes
    from tarcza.cases import pages as case_pages
    from tarcza.cases import routes as case_routes
    from tarcza.coordination import open_pages, report_pages
    from tarcza.coordination import pages as coordination_pages
    from tarcza.coordination import routes as coordination_routes
    from tarcza.hashing import hma_routes
    from tarcza.hashing import routes as hashing_routes
    from tarcza.hashing.fast_lookup import LookupFastPath
    from tarcza.hashing.fast_match import MatchFastPath
    from tarcza.helpline import pages as helpline_pages
    from tarcza.helpline import routes as helpline_routes
    from tarcza.hotline import pages as hotline_pages
    from tarcza.hotline import routes as hotline_routes
    from tarcza.hotline import stats_pages as hotline_stats_pages
    from tarcza.intake import pages as intake_pages
    from tarcza.intake import routes as intake_routes
    from tarcza.intake.contacts import help_directory
    from tarcza.intake.fast_path import ReportFastPath
    from tarcza.mail import pages as mail_pages
    from tarcza.mnr import pages as mnr_pages
    from tarcza.mnr import routes as mnr_routes
    from tarcza.oversight import pages as audit_pages
    from tarcza.oversight import routes as audit_routes
    from tarcza.platforms import routes as platform_routes
    from tarcza.platforms.rules import IspwsRefused
    from tarcza.selfprotect import pages as selfprotect_pages
    from tarcza.selfprotect import routes as selfprotect_routes
    from tarcza.web import errors
    from tarcza.web.middleware import BodyLimit, SecurityHeaders, security_headers
    from tarcza.web.render import Site, make_templates
    from tarcza.web.uploads import UploadSlots

    settings = application.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Lookups never catch up themselves while this thread keeps the matcher current.
        application.matcher.start_refreshing()
        # Partner keys in use are read ahead, so that none expires under a steady stream.
        partner_keys = application.services.get(PartnerKeys)
        partner_keys.start_refreshing()
        if freeze:
            # Everything made so far (modules, the application, its routes and templates: some
            # 230,000 objects) lives as long as the process: out of the collector's sight, a
            # full collection no longer walks them (it held every request up for 0.1-1 s).
            gc.freeze()
        try:
            yield
        finally:
            partner_keys.stop_refreshing()
            application.matcher.stop_refreshing()
            if close_on_shutdown:
                application.close()

    app = FastAPI(
        lifespan=lifespan,
        title="tarcza",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.application = application
    # Multipart bodies stream (tarcza.web.uploads) straight into sealed evidence storage;
    # this many at once per process, the others wait for a slot.
    app.state.upload_slots = UploadSlots(
        settings.max_concurrent_uploads, settings.upload_wait_seconds
    )
    app.state.services = application.services
    app.state.site = Site(
        templates=make_templates(TEMPLATE_PACKAGES),
        default_language=settings.default_language,
        secure_cookies=settings.production,
        page_values=(
            lambda _request: {
                "help": help_directory(settings.country),
                "quick_exit_url": settings.quick_exit_url,
            },
            staff_page_values,
            alert_pages.alert_page_values,
        ),
    )
    errors.install(app)
    app.add_exception_handler(IspwsRefused, platform_routes.refused)
    for router in (
        intake_routes.router,
        selfprotect_routes.router,
        hashing_routes.router,
        hma_routes.hma_router,
        intake_pages.router,
        selfprotect_pages.router,
        account_routes.router,
        account_pages.router,
        case_routes.router,
        case_pages.router,
        audit_routes.router,
        audit_pages.router,
        hotline_pages.router,
        hotline_routes.router,
        hotline_stats_pages.router,
        helpline_routes.router,
        helpline_pages.router,
        alert_routes.router,
        alert_pages.router,
        mnr_routes.router,
        mnr_pages.router,
        coordination_routes.router,
        report_pages.router,
        coordination_pages.router,
        platform_routes.router,
        open_pages.router,
    ):
        app.include_router(router)
    if application.mail_catcher is not None:  # development only: production refuses "catch"
        app.include_router(mail_pages.router)
    app.mount("/static", StaticFiles(packages=[("tarcza.web", "static")]), name="static")

    def limit_for(content_type: str) -> int:
        if content_type.startswith("multipart/form-data"):
            return settings.max_multipart_bytes
        return settings.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders, hsts=settings.production)
    # Outermost, before even FastAPI's own middleware: the partner lookups it can answer from
    # memory skip the framework (see its docstring); it adds the security headers itself.
    build_stack = app.build_middleware_stack

    def middleware_stack() -> ASGIApp:
        headers = security_headers(hsts=settings.production)
        # Plain JSON reports skip the framework as well (intake.fast_path; issue 16).
        reports = ReportFastPath(
            build_stack(),
            intake=application.services.get(IntakeService),
            headers=headers,
            answer_error=errors.answerer(app),
            max_json_bytes=settings.max_json_bytes,
            threads=settings.intake_threads,
        )
        # Partners' batches of PDQ signals as well (hashing.fast_match; issue 16).
        batches = MatchFastPath(
            reports,
            services=application.services,
            headers=headers,
            answer_error=errors.answerer(app),
            max_json_bytes=settings.max_json_bytes,
        )
        return LookupFastPath(batches, services=application.services, headers=headers)

    app.build_middleware_stack = middleware_stack  # type: ignore[method-assign]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            report_schema = intake_routes.report_schema()
            added = {**report_schema.pop("$defs", {}), "ReportIn": report_schema}
            # A model of another concept by the same name would be documented as this one.
            clash = sorted(n for n, s in added.items() if components.get(n, s) != s)
            if clash:
                raise RuntimeError(f"two models named {clash} in the OpenAPI document")
            components.update(added)
            intake_routes.document_limits(schema, max_files=settings.max_files)
            selfprotect_routes.document_limits(schema, max_items=settings.selfprotect_max_items)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def web_from_environment() -> FastAPI:
    """The uvicorn factory for ``tarcza serve --workers N``: each worker builds its own."""
    return web(build())
