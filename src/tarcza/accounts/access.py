"""The web side of the access rules: who is asking, and may they.

Every staff page and API route declares its action with :func:`require`;
the dependency finds the session, insists on the second factor, checks the
role holds the action, and checks the CSRF token on every unsafe method.
Whether the person may act on *this* record is asked again by the services,
inside their queries (a record you may not see answers 404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from tarcza.accounts.auth import AuthService
from tarcza.accounts.permissions import Action, Principal, holds
from tarcza.config import Settings
from tarcza.errors import Denied, Unauthenticated
from tarcza.web.deps import services
from tarcza.web.i18n import N_

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class NotSignedIn(Unauthenticated):
    """No live session: pages go to the login, the API answers 401."""

    detail = "Sign in first."
    page_redirect = "/staff/login"


class SecondFactorNeeded(Unauthenticated):
    """The password was given but not the second factor."""

    detail = "Give the second factor first."
    page_redirect = "/staff/login/code"


class Forbidden(Denied):
    """The person's role does not hold this action (403)."""


class CsrfRejected(Denied):
    """An unsafe request without the right CSRF token or from another origin (403)."""

    detail = "Missing or wrong X-CSRF-Token, or a foreign Origin."
    page_message = N_("This form has expired. Go back, reload the page and try again.")


def cookie_name(request: Request) -> str:
    """``__Host-`` cookies are Secure, path=/, host-only: used outside development."""
    return "tarcza_staff" if _development(request) else "__Host-tarcza_staff"


def prelogin_cookie_name(request: Request) -> str:
    return "tarcza_prelogin" if _development(request) else "__Host-tarcza_prelogin"


def _development(request: Request) -> bool:
    return services(request).get(Settings).env == "development"


def auth_service(request: Request) -> AuthService:
    return services(request).get(AuthService)


def session_token(request: Request) -> str:
    return request.cookies.get(cookie_name(request), "")


def current_principal(request: Request) -> Principal | None:
    """The signed-in person (cached for the request), or None."""
    if not hasattr(request.state, "principal"):
        request.state.principal = auth_service(request).principal(session_token(request))
    principal: Principal | None = request.state.principal
    return principal


def csrf_token(request: Request) -> str:
    """The token forms of this session carry (pre-login forms use the pre-login cookie)."""
    token = session_token(request) or request.cookies.get(prelogin_cookie_name(request), "")
    return auth_service(request).csrf_token(token) if token else ""


async def check_csrf(request: Request, token: str) -> None:
    """Refuse an unsafe request whose origin is foreign or whose CSRF token is wrong."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRejected()
    offered = request.headers.get(CSRF_HEADER, "")
    if not offered and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        offered = value if isinstance(value, str) else ""
    if not auth_service(request).csrf_valid(token, offered):
        raise CsrfRejected()


def require(action: Action) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the signed-in person, who must hold ``action``."""

    async def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            raise NotSignedIn()
        if not principal.mfa_passed:
            raise SecondFactorNeeded()
        if not holds(principal, action):
            raise Forbidden()
        if request.method not in SAFE_METHODS:
            await check_csrf(request, session_token(request))
        return principal

    dependency.tarcza_action = action  # type: ignore[attr-defined]
    return dependency


def signed_in() -> Callable[[Request], Awaitable[Principal]]:
    """A dependency for pages every signed-in person has (home, logout): no action needed."""

    async def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            raise NotSignedIn()
        if not principal.mfa_passed:
            raise SecondFactorNeeded()
        if request.method not in SAFE_METHODS:
            await check_csrf(request, session_token(request))
        return principal

    dependency.tarcza_action = "signed-in"  # type: ignore[attr-defined]
    return dependency


def declared_action(endpoint_dependencies: list[Any]) -> str | None:
    """The action a route declared through :func:`require` (for the route-coverage test)."""
    for dep in endpoint_dependencies:
        action = getattr(dep.call, "tarcza_action", None)
        if action is not None:
            return str(action)
        nested = declared_action(dep.dependencies)
        if nested is not None:
            return nested
    return None
