"""What every request can reach: settings, database, keys, services, templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from tarcza.config import Settings
from tarcza.crypto import KeyRing
from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import RateLimiter
from tarcza.intake.contacts import help_directory
from tarcza.intake.service import IntakeService
from tarcza.store.engine import Database
from tarcza.web import i18n


@dataclass
class AppContext:
    """The collaborators a request's handlers work with."""

    settings: Settings
    db: Database
    keyring: KeyRing
    intake: IntakeService
    templates: Environment
    matcher: Matcher | None = None
    rate_limiter: RateLimiter | None = None


def make_templates() -> Environment:
    """Jinja2 with the layout templates and every concept's own."""
    return Environment(
        loader=ChoiceLoader(
            [PackageLoader("tarcza.web", "templates"), PackageLoader("tarcza.intake", "templates")]
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
