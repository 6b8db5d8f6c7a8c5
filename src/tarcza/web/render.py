"""Pages: the site's templates and how a page is rendered in the reader's language.

The web toolkit knows no concept. What every page shows beyond its own values (the help
contacts, the signed-in person and the staff menu) comes from ``page_values`` functions that
the composition root (``tarcza.app``) hands in; each concept's templates are in its own folder
and the root lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from tarcza.web import i18n

PageValues = Callable[[Request], dict[str, Any]]


@dataclass(frozen=True)
class Site:
    """What rendering needs: the templates, the default language, cookie security, extras."""

    templates: Environment
    default_language: str = i18n.DEFAULT_LANGUAGE
    secure_cookies: bool = False
    page_values: Sequence[PageValues] = field(default_factory=tuple)


def make_templates(packages: Sequence[str]) -> Environment:
    """Jinja2 with the layout templates (``tarcza.web``) and each named package's own."""
    return Environment(
        loader=ChoiceLoader(
            [PackageLoader(name, "templates") for name in ("tarcza.web", *packages)]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def site(request: Request) -> Site:
    """The site the request's application renders with."""
    value: Site = request.app.state.site
    return value


def page_language(request: Request) -> str:
    """FastAPI dependency: the language of the page to render."""
    return i18n.pick_language(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        site(request).default_language,
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    language: str | None = None,
) -> HTMLResponse:
    """Render a page in the request's language, with what every page shows at hand."""
    the_site = site(request)
    lang = language or page_language(request)
    tr = i18n.translator(lang)
    other = "en" if lang == "pl" else "pl"
    values: dict[str, Any] = {
        "request": request,
        "_": tr.gettext,
        "lang": lang,
        "other_lang": other,
        "other_lang_url": request.url.path + f"?lang={other}",
    }
    for extra in the_site.page_values:
        values.update(extra(request))
    values.update(context or {})
    html = the_site.templates.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=the_site.secure_cookies,
        )
    return response
