"""Invented staff for trying the workspace: agencies and accounts already enrolled.

Every demo account shares one published password and has its TOTP secret
printed, so the demo refuses to run in production.
"""

from __future__ import annotations

from sqlalchemy import select

from tarcza.accounts import rules
from tarcza.accounts.models import User
from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.accounts.service import AccountRefused, AccountService
from tarcza.crypto import KeyRing
from tarcza.store.engine import Database

# Published on purpose (the demo prints it); load_staff_demo refuses production.
DEMO_PASSWORD = "demo-tarcza-haslo-2025"  # noqa: S105
DEMO_AGENCIES = (
    ("hotline", "Dyżurnet.pl", AgencyKind.HOTLINE),
    ("helpline", "Telefon zaufania 116 111", AgencyKind.HELPLINE),
    ("police", "Policja – CBZC", AgencyKind.POLICE),
    ("ministry", "Ministerstwo – koordynacja", AgencyKind.COORDINATOR),
)
# username, agency, role, display name (the name marks an account as the demo's own).
DEMO_STAFF = (
    ("anna", "hotline", Role.ANALYST, "Anna (demo)"),
    ("piotr", "police", Role.OFFICER, "Piotr (demo)"),
    ("kasia", "helpline", Role.COUNSELLOR, "Kasia (demo)"),
    ("marek", "hotline", Role.SUPERVISOR, "Marek (demo)"),
    ("ola", "ministry", Role.COORDINATOR, "Ola (demo)"),
    ("adam", "hotline", Role.ADMINISTRATOR, "Adam (demo)"),
    ("ewa", "ministry", Role.AUDITOR, "Ewa (demo)"),
)


class DemoRefused(RuntimeError):
    """The demo accounts are not made here (production)."""


def load_staff_demo(
    accounts: AccountService, db: Database, keyring: KeyRing, *, production: bool
) -> list[tuple[str, str, str]]:
    """Make the demo agencies and accounts (skipping those there); (username, password, TOTP).

    An account of a demo name that the demo did not make is left alone and not listed.
    """
    if production:
        raise DemoRefused("demo accounts have a published password: not in production")
    for code, name, kind in DEMO_AGENCIES:
        accounts.add_agency(code, name, kind)
    sign_ins = []
    for username, agency, role, display in DEMO_STAFF:
        try:
            accounts.add_user(
                None,
                agency=agency,
                username=username,
                role=role,
                display_name=display,
                password=DEMO_PASSWORD,
            )
        except AccountRefused as exc:
            if exc.code != "taken":
                raise
        secret = _demo_totp_secret(db, keyring, username, display)
        if secret is not None:
            sign_ins.append((username, DEMO_PASSWORD, secret))
    return sign_ins


def _demo_totp_secret(db: Database, keyring: KeyRing, username: str, display: str) -> str | None:
    """The demo account's TOTP secret (enrolled now if need be); None if not the demo's."""
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        name = (
            keyring.open_text(user.display_name_sealed, f"user:{user.id}:name")
            if user.display_name_sealed
            else None
        )
        if name != display:
            return None
        context = f"user:{user.id}:totp"
        if user.totp_secret_sealed is not None:
            return keyring.open_text(user.totp_secret_sealed, context)
        secret = rules.new_totp_secret()
        user.totp_secret_sealed = keyring.seal_text(secret, context)
        return secret


def sign_in_table(sign_ins: list[tuple[str, str, str]]) -> str:
    """The demo sign-ins as a text table, with a warning."""
    roles = {username: (agency, role.value) for username, agency, role, _ in DEMO_STAFF}
    lines = [
        "Demo staff sign-ins at /staff/login (for the demo only: never for real work):",
        f"  {'username':<8} {'agency':<9} {'role':<14} {'password':<24} TOTP secret",
    ]
    for username, password, secret in sign_ins:
        agency, role = roles.get(username, ("", ""))
        lines.append(f"  {username:<8} {agency:<9} {role:<14} {password:<24} {secret}")
    lines.append("Add a secret to an authenticator app (or run: oathtool --totp -b SECRET).")
    return "\n".join(lines)
