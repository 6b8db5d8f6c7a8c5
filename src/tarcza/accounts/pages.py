"""Staff sign-in pages: password, second factor (or its enrolment), account, sign-out.

They work without JavaScript. Before sign-in, forms carry a CSRF token bound
to a random pre-login cookie; afterwards, one bound to the session cookie.
Every failed password answers the same words, so nobody learns whether an
account exists or is locked. The administrators' pages live in admin_pages.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts import admin_pages
from tarcza.accounts.access import (
    check_csrf,
    cookie_name,
    current_principal,
    prelogin_cookie_name,
    session_token,
    signed_in,
)
from tarcza.accounts.auth import AuthService, Enrolment, LoginFailed, SessionInvalid
from tarcza.accounts.layout import staff_menu
from tarcza.accounts.permissions import Principal
from tarcza.accounts.service import AccountService
from tarcza.config import Settings
from tarcza.store.throttle import Throttled
from tarcza.web.deps import provided, services
from tarcza.web.i18n import N_
from tarcza.web.render import render

router = APIRouter(include_in_schema=False)

Auth = Annotated[AuthService, Depends(provided(AuthService))]
Accounts = Annotated[AccountService, Depends(provided(AccountService))]
Staff = Annotated[Principal, Depends(signed_in())]

# One answer for an unknown name, a wrong password and a locked account alike.
LOGIN_FAILED = N_("The username or password is wrong, or the account is locked for a while.")
CODE_FAILED = N_("The code is wrong or was already used. Wait for the next code and try again.")
ENROL_FAILED = N_("The code is wrong. Check that the time on your phone is right and try again.")
TOO_MANY = N_("Too many attempts. Please try again in a few minutes.")
# What the sign-in page says after a sign-out (?out=...).
SIGNED_OUT = {
    "1": N_("You are signed out."),
    "everywhere": N_("You are signed out on every device."),
}
_PRELOGIN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


# -- cookies ------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return bool(services(request).get(Settings).env != "development")


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A session cookie (no max-age): HttpOnly, SameSite=Strict, Secure outside development."""
    response.set_cookie(
        name, value, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )


def delete_cookie(response: Response, request: Request, name: str) -> None:
    # Browsers ignore a __Host- cookie's deletion unless it is Secure too.
    response.delete_cookie(
        name, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _field(request: Request, name: str, limit: int) -> str:
    value = (await request.form()).get(name)
    return value[:limit] if isinstance(value, str) else ""


def _retry(response: Response, exc: Throttled) -> Response:
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


# -- step 1: name and password --------------------------------------------------------


def _login_page(
    request: Request,
    auth: AuthService,
    prelogin: str,
    *,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "login.html",
        {
            "login_csrf": auth.csrf_token(prelogin),
            "username": username,
            "error": error,
            "notice": SIGNED_OUT.get(request.query_params.get("out", "")),
        },
        status_code=status_code,
    )


@router.get("/staff/login")
def login_form(request: Request, auth: Auth) -> Response:
    """The sign-in form; sets the pre-login cookie its CSRF token is bound to."""
    principal = current_principal(request)
    if principal is not None and principal.mfa_passed:
        return _redirect("/staff")
    prelogin = request.cookies.get(prelogin_cookie_name(request), "")
    if not _PRELOGIN.match(prelogin):
        prelogin = secrets.token_urlsafe(32)
    response = _login_page(request, auth, prelogin)
    set_cookie(response, request, prelogin_cookie_name(request), prelogin)
    return response


@router.post("/staff/login")
async def login(request: Request, auth: Auth) -> Response:
    """Check name and password; then on to the second factor (or its enrolment)."""
    prelogin = request.cookies.get(prelogin_cookie_name(request), "")
    await check_csrf(request, prelogin)
    username = await _field(request, "username", 100)
    password = await _field(request, "password", 1024)
    try:
        step = await run_in_threadpool(auth.password, username, password, _client(request))
    except LoginFailed:
        return _login_page(
            request, auth, prelogin, username=username, error=LOGIN_FAILED, status_code=400
        )
    except Throttled as exc:
        page = _login_page(
            request, auth, prelogin, username=username, error=LOGIN_FAILED, status_code=429
        )
        return _retry(page, exc)
    old = session_token(request)
    if old:  # a session this browser held before ends with the new sign-in
        await run_in_threadpool(auth.logout, old)
    response = _redirect("/staff/login/enrol" if step.needs_enrolment else "/staff/login/code")
    set_cookie(response, request, cookie_name(request), step.token)
    delete_cookie(response, request, prelogin_cookie_name(request))
    return response


# -- step 2: the second factor ----------------------------------------------------------


def _pending_step(auth: AuthService, request: Request) -> str | None:
    try:
        return auth.pending_step(session_token(request))
    except SessionInvalid:
        return None


def _step_redirect(step: str | None, here: str) -> Response | None:
    """Where a session at ``step`` belongs, when that is not ``here``."""
    if step is None:
        return _redirect("/staff/login")
    if step != here:
        return _redirect(f"/staff/login/{step}")
    return None


@router.get("/staff/login/code")
def code_form(request: Request, auth: Auth) -> Response:
    """The form for a code from the authenticator app, or a recovery code."""
    elsewhere = _step_redirect(_pending_step(auth, request), "code")
    return elsewhere or render(request, "login_code.html", {"error": None})


@router.post("/staff/login/code")
async def code(request: Request, auth: Auth) -> Response:
    """Check the code: a full session (a new token) on success."""
    token = session_token(request)
    await check_csrf(request, token)
    given = await _field(request, "code", 64)
    try:
        signed = await run_in_threadpool(auth.second_factor, token, given, _client(request))
    except SessionInvalid:
        return _redirect("/staff/login")
    except LoginFailed:
        return render(request, "login_code.html", {"error": CODE_FAILED}, status_code=400)
    except Throttled as exc:
        page = render(request, "login_code.html", {"error": TOO_MANY}, status_code=429)
        return _retry(page, exc)
    response = _redirect("/staff")
    set_cookie(response, request, cookie_name(request), signed.token)
    return response


def _enrol_page(
    request: Request, enrolment: Enrolment, error: str | None = None, status_code: int = 200
) -> Response:
    secret = enrolment.secret
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "login_enrol.html",
        {"secret": grouped, "uri": enrolment.uri, "error": error},
        status_code=status_code,
    )


@router.get("/staff/login/enrol")
def enrol_form(request: Request, auth: Auth) -> Response:
    """A new TOTP secret to add to the authenticator app, and a field for its first code."""
    elsewhere = _step_redirect(_pending_step(auth, request), "enrol")
    if elsewhere is not None:
        return elsewhere
    try:
        enrolment = auth.start_enrolment(session_token(request))
    except SessionInvalid:
        return _redirect("/staff/login")
    return _enrol_page(request, enrolment)


@router.post("/staff/login/enrol")
async def enrol(request: Request, auth: Auth) -> Response:
    """Confirm the secret with a code; show the ten recovery codes, once."""
    token = session_token(request)
    await check_csrf(request, token)
    given = await _field(request, "code", 64)
    try:
        signed = await run_in_threadpool(auth.finish_enrolment, token, given, _client(request))
    except SessionInvalid:
        return _redirect("/staff/login")
    except LoginFailed:
        try:
            enrolment = await run_in_threadpool(auth.start_enrolment, token)
        except SessionInvalid:
            return _redirect("/staff/login")
        return _enrol_page(request, enrolment, ENROL_FAILED, status_code=400)
    response = render(request, "recovery_codes.html", {"codes": signed.recovery_codes})
    set_cookie(response, request, cookie_name(request), signed.token)
    return response


# -- signed in ------------------------------------------------------------------------


@router.get("/staff")
def staff_home(principal: Staff) -> Response:
    """The first page the person may open (their own account page at least)."""
    return _redirect(staff_menu(principal)[0][0])


@router.post("/staff/logout")
async def logout(request: Request, auth: Auth, principal: Staff) -> Response:
    """End this session."""
    await run_in_threadpool(auth.logout, session_token(request))
    response = _redirect("/staff/login?out=1")
    delete_cookie(response, request, cookie_name(request))
    return response


@router.get("/staff/account")
def account(request: Request, accounts: Accounts, principal: Staff) -> Response:
    """Who is signed in, and a way to end every session of the account."""
    names = {a.code: a.name for a in accounts.agencies()}
    return render(
        request, "account.html", {"agency_name": names.get(principal.agency, principal.agency)}
    )


@router.post("/staff/account/logout-everywhere")
async def logout_everywhere(request: Request, auth: Auth, principal: Staff) -> Response:
    """End every session of this account, on every device, this one too."""
    await run_in_threadpool(auth.logout_everywhere, session_token(request))
    response = _redirect("/staff/login?out=everywhere")
    delete_cookie(response, request, cookie_name(request))
    return response


router.include_router(admin_pages.router)
