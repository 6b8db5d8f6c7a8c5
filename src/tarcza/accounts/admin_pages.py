"""Administrators' pages: their own agency's accounts, and only those.

Passwords an administrator gives out (a new account's first one, a reset one)
are generated and shown once, on the answer to the POST; they are never stored
in a form, a link or a later page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import ROLES_OF_KIND, Action, Principal, Role
from tarcza.accounts.service import AccountRefused, AccountService
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import render

router = APIRouter(include_in_schema=False)

Accounts = Annotated[AccountService, Depends(provided(AccountService))]
Admin = Annotated[Principal, Depends(require(Action.USER_ACCOUNT_MANAGE))]

FORM_FIELDS = ("username", "role", "display_name")
# Refusals by code, in the reader's language.
REFUSALS = {
    "invalid": N_("Use 2 to 40 characters: lower-case letters, digits, dot, dash or underscore."),
    "taken": N_("This username is taken."),
    "not_for_agency": N_("Your agency cannot have people in this role."),
    "unknown": N_("Choose one of the options."),
    "self": N_("You cannot change your own account. Ask another administrator."),
    "too_long": N_("This is too long."),
}
NOT_VALID = N_("This value is not valid.")
# What a finished change says on the accounts page (?done=...).
DONE = {
    "suspended": N_("The account is suspended and its sessions are ended."),
    "activated": N_("The account is active again."),
    "second_factor": N_(
        "The second factor is cleared: the person sets up the authenticator app again "
        "at the next sign-in."
    ),
}


def _roles(principal: Principal) -> list[Role]:
    """The roles the administrator's agency may give, in the usual order."""
    allowed = ROLES_OF_KIND[principal.agency_kind]
    return [role for role in Role if role in allowed]


def _users_page(
    request: Request,
    accounts: AccountService,
    admin: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    done = DONE.get(request.query_params.get("done", "")) if not errors else None
    return render(
        request,
        "users.html",
        {
            "users": accounts.users(admin),
            "roles": _roles(admin),
            "values": values or dict.fromkeys(FORM_FIELDS, ""),
            "errors": errors or {},
            "done": done,
        },
        status_code=status_code,
    )


def _refused(exc: AccountRefused) -> dict[str, str]:
    field = exc.field if exc.field in FORM_FIELDS else "username"
    return {field: REFUSALS.get(exc.code, NOT_VALID)}


@router.get("/staff/users")
def users(request: Request, accounts: Accounts, admin: Admin) -> Response:
    """The agency's accounts and a form to add one."""
    return _users_page(request, accounts, admin)


@router.post("/staff/users")
async def add_user(request: Request, accounts: Accounts, admin: Admin) -> Response:
    """Add an account to the administrator's agency; its first password is shown once."""
    form = await request.form()
    values = {name: form.get(name) for name in FORM_FIELDS}
    clean = {k: v.strip()[:200] if isinstance(v, str) else "" for k, v in values.items()}
    role = next((r for r in _roles(admin) if r.value == clean["role"]), None)
    if role is None:
        known = clean["role"] in {r.value for r in Role}
        error = REFUSALS["not_for_agency" if known else "unknown"]
        return await run_in_threadpool(
            _users_page,
            request,
            accounts,
            admin,
            values=clean,
            errors={"role": error},
            status_code=422,
        )
    try:
        account = await run_in_threadpool(
            accounts.add_user,
            admin,
            agency=admin.agency,
            username=clean["username"],
            role=role,
            display_name=clean["display_name"] or None,
        )
    except AccountRefused as exc:
        return await run_in_threadpool(
            _users_page,
            request,
            accounts,
            admin,
            values=clean,
            errors=_refused(exc),
            status_code=422,
        )
    return render(request, "user_password.html", {"account": account, "new": True})


async def _change(
    request: Request, accounts: AccountService, admin: Principal, change: str
) -> Response:
    """Run one change on an account; back to the list, or the list with the refusal."""
    username = request.path_params["username"]
    try:
        if change == "suspended":
            await run_in_threadpool(accounts.set_active, admin, username, False)
        elif change == "activated":
            await run_in_threadpool(accounts.set_active, admin, username, True)
        else:
            await run_in_threadpool(accounts.reset_second_factor, admin, username)
    except AccountRefused as exc:
        return await run_in_threadpool(
            _users_page, request, accounts, admin, errors=_refused(exc), status_code=422
        )
    return RedirectResponse(f"/staff/users?done={change}", status_code=303)


@router.post("/staff/users/{username}/suspend")
async def suspend(request: Request, accounts: Accounts, admin: Admin, username: str) -> Response:
    """Suspend an account: it cannot sign in, and its sessions end."""
    return await _change(request, accounts, admin, "suspended")


@router.post("/staff/users/{username}/activate")
async def activate(request: Request, accounts: Accounts, admin: Admin, username: str) -> Response:
    """Let a suspended account sign in again."""
    return await _change(request, accounts, admin, "activated")


@router.post("/staff/users/{username}/reset-second-factor")
async def reset_second_factor(
    request: Request, accounts: Accounts, admin: Admin, username: str
) -> Response:
    """Clear the second factor (a lost phone): the person enrols again at next sign-in."""
    return await _change(request, accounts, admin, "second_factor")


@router.post("/staff/users/{username}/reset-password")
async def reset_password(
    request: Request, accounts: Accounts, admin: Admin, username: str
) -> Response:
    """A new generated password, shown once; every session of the account ends."""
    try:
        account = await run_in_threadpool(accounts.reset_password, admin, username)
    except AccountRefused as exc:
        return await run_in_threadpool(
            _users_page, request, accounts, admin, errors=_refused(exc), status_code=422
        )
    return render(request, "user_password.html", {"account": account, "new": False})
