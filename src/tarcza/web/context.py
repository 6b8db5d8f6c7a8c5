"""What every request can reach: settings, database, keys, services, templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from tarcza.accounts.auth import AuthService
from tarcza.accounts.permissions import Action, Principal, holds
from tarcza.accounts.service import AccountService
from tarcza.cases.service import CaseService
from tarcza.config import Settings
from tarcza.crypto import KeyRing
from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import RateLimiter
from tarcza.hotline.service import HotlineService
from tarcza.intake.contacts import help_directory
from tarcza.intake.service import IntakeService
from tarcza.store.engine import Database
from tarcza.web import i18n
from tarcza.web.i18n import N_


@dataclass
class AppContext:
    """The collaborators a request's handlers work with."""

    settings: Settings
    db: Database
    keyring: KeyRing
    intake: IntakeService
    templates: Environment
    auth: AuthService
    accounts: AccountService
    cases: CaseService
    hotline: HotlineService
    jobs: Any = None  # the huey queue (tarcza.jobs.queue)
    matcher: Matcher | None = None
    rate_limiter: RateLimiter | None = None


def make_templates() -> Environment:
    """Jinja2 with the layout templates and every concept's own."""
    return Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("tarcza.web", "templates"),
                PackageLoader("tarcza.intake", "templates"),
                PackageLoader("tarcza.accounts", "templates"),
                PackageLoader("tarcza.cases", "templates"),
                PackageLoader("tarcza.audit", "templates"),
                PackageLoader("tarcza.hotline", "templates"),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def app_context(request: Request) -> AppContext:
    """FastAPI dependency: the application's collaborators."""
    ctx: AppContext = request.app.state.ctx
    return ctx


def page_language(request: Request) -> str:
    """FastAPI dependency: the language of the page to render."""
    ctx = app_context(request)
    return i18n.pick_language(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        ctx.settings.default_language,
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    language: str | None = None,
) -> HTMLResponse:
    """Render a page in the request's language, with the help contacts at hand."""
    ctx = app_context(request)
    lang = language or page_language(request)
    tr = i18n.translator(lang)
    other = "en" if lang == "pl" else "pl"
    values: dict[str, Any] = {
        "request": request,
        "_": tr.gettext,
        "lang": lang,
        "other_lang": other,
        "other_lang_url": request.url.path + f"?lang={other}",
        "help": help_directory(ctx.settings.country),
    }
    values.update(_staff_values(request))
    values.update(context or {})
    html = ctx.templates.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.production,
        )
    return response


def _staff_values(request: Request) -> dict[str, Any]:
    """The signed-in person (if any) and the CSRF token, for the staff layout."""
    from tarcza.accounts import access

    if not request.url.path.startswith("/staff"):
        return {}
    principal = access.current_principal(request)
    staff = principal if principal is not None and principal.mfa_passed else None
    return {
        "staff": staff,
        "staff_menu": staff_menu(staff),
        "csrf": access.csrf_token(request),
    }


# (path, label, action needed): the staff menu shows what the person may open.
STAFF_MENU = (
    ("/staff/queue", N_("Queue"), Action.REPORT_QUEUE_LIST),
    ("/staff/items", N_("Content items"), Action.HOTLINE_ITEM_READ),
    ("/staff/stats", N_("Figures"), Action.STATS_AGGREGATE_READ),
    ("/staff/hotline/stats", N_("Removal figures"), Action.HOTLINE_STATS_READ),
    ("/staff/audit", N_("Audit log"), Action.AUDIT_LOG_SEARCH),
    ("/staff/users", N_("Accounts"), Action.USER_ACCOUNT_MANAGE),
)


def staff_menu(staff: Principal | None) -> list[tuple[str, str]]:
    """The menu entries ``staff`` may open, plus their own account page."""
    if staff is None:
        return []
    entries = [(href, label) for href, label, action in STAFF_MENU if holds(staff, action)]
    return [*entries, ("/staff/account", N_("My account"))]
