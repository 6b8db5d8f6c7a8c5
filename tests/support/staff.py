"""Staff for tests: agencies, accounts with a second factor, signed-in clients.

``sign_in`` writes a full session straight into the database (the login flow
itself is tested in tests/accounts); it returns the CSRF token the session's
forms and API calls must carry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts import rules
from tarcza.accounts.models import StaffSession, User
from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.app import Application
from tarcza.store.base import utcnow

PASSWORD = "correct-horse-battery-staple"
AGENCY_KINDS = {
    "hotline": AgencyKind.HOTLINE,
    "helpline": AgencyKind.HELPLINE,
    "police": AgencyKind.POLICE,
    "ministry": AgencyKind.COORDINATOR,
    "platform-x": AgencyKind.PLATFORM,
}


@dataclass(frozen=True)
class StaffUser:
    username: str
    password: str
    agency: str
    role: Role
    totp_secret: str | None


def context(client: TestClient) -> Application:
    ctx: Application = client.app.state.application  # type: ignore[attr-defined]
    return ctx


def add_agencies(ctx: Application, codes: tuple[str, ...] = tuple(AGENCY_KINDS)) -> None:
    """The usual agencies: hotline, helpline, police, ministry (coordinator), platform-x."""
    for code in codes:
        ctx.accounts.add_agency(code, code.title(), AGENCY_KINDS[code])


def add_staff(
    ctx: Application,
    agency: str,
    role: Role,
    username: str | None = None,
    *,
    enrol: bool = True,
    password: str = PASSWORD,
) -> StaffUser:
    """An account; with ``enrol`` its TOTP secret is set (as if enrolled)."""
    name = username or f"{role.value}-{agency}-{secrets.token_hex(3)}"
    ctx.accounts.add_user(None, agency=agency, username=name, role=role, password=password)
    secret = rules.new_totp_secret() if enrol else None
    if secret is not None:
        with ctx.db.transaction() as session:
            user = session.scalars(select(User).where(User.username == name)).one()
            user.totp_secret_sealed = ctx.keyring.seal_text(secret, f"user:{user.id}:totp")
    return StaffUser(name, password, agency, role, secret)


def sign_in(client: TestClient, user: StaffUser) -> str:
    """Give ``client`` a full session of ``user``; returns the session's CSRF token."""
    ctx = context(client)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.transaction() as session:
        user_id = session.scalars(select(User.id).where(User.username == user.username)).one()
        session.add(
            StaffSession(
                token_hash=ctx.keyring.keyed_hash("staff-session", token),
                user_id=user_id,
                mfa_passed=True,
                created_at=now,
                last_seen_at=now,
                revoked=False,
            )
        )
    client.cookies.set("tarcza_staff", token)
    return ctx.auth.csrf_token(token)
