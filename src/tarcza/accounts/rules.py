"""Account rules — pure: no web, database or network imports.

Usernames, passwords, the second factor (TOTP, RFC 6238, via pyotp),
recovery codes, session lifetimes and the lock-out after failures.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp

MIN_PASSWORD = 12
MAX_PASSWORD = 256
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
AGENCY_CODE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
TOTP_ISSUER = "tarcza"
TOTP_DIGITS = 6
TOTP_STEP = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# A few of the passwords every list of breached passwords starts with.
_COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "haslo1234567",
        "zaq12wsxcde3",
        "administrator",
        "passwordpassword",
    }
)


class AccountRuleViolation(ValueError):
    """A value breaks an account rule: ``field`` names it, ``code`` says why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


def normalise_username(raw: str) -> str:
    """Usernames compare case-insensitively and without surrounding space."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def check_username(raw: str) -> str:
    """The normalised username, or AccountRuleViolation."""
    name = normalise_username(raw)
    if not USERNAME.match(name):
        raise AccountRuleViolation(
            "username",
            "invalid",
            "2 to 40 characters: lower-case letters, digits, dot, dash or underscore.",
        )
    return name


def check_agency_code(raw: str) -> str:
    """An agency code such as ``hotline`` or ``police-cbzc``."""
    code = raw.strip().lower()
    if not AGENCY_CODE.match(code):
        raise AccountRuleViolation(
            "agency", "invalid", "2 to 32 lower-case letters, digits or dashes."
        )
    return code


def check_password(password: str, username: str) -> None:
    """Length (NIST SP 800-63B: at least 12 here), not the username, not a common one."""
    if len(password) < MIN_PASSWORD:
        raise AccountRuleViolation("password", "too_short", f"At least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountRuleViolation("password", "too_long", f"At most {MAX_PASSWORD} characters.")
    lowered = password.lower()
    if lowered in _COMMON or (username and username in lowered):
        raise AccountRuleViolation("password", "guessable", "This password is too easy to guess.")


def new_password() -> str:
    """A random password for a new account (shown once), 20 characters."""
    return "-".join(secrets.token_urlsafe(6)[:6] for _ in range(3)) + "A1"


# -- the second factor ------------------------------------------------------------


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, agency: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).provisioning_uri(
        name=f"{username}@{agency}", issuer_name=TOTP_ISSUER
    )


def totp_code(secret: str, at: datetime) -> str:
    """The code shown by an authenticator at ``at`` (tests and demos)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).at(at)


def totp_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (±1 step of drift), or None.

    A step already used (``last_step``) or an earlier one is refused: a code
    works once.
    """
    digits = code.strip().replace(" ", "")
    # isascii: str.isdigit accepts other scripts' digits, which compare_digest refuses.
    if not (digits.isascii() and digits.isdigit() and len(digits) == TOTP_DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    now_step = int(at.timestamp()) // TOTP_STEP
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.at(step * TOTP_STEP), digits):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten one-time recovery codes such as ``k3mq-7tzp-wx2a``."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODES)
    ]


def normalise_recovery_code(raw: str) -> str:
    """Recovery codes compare without case, spaces or dashes."""
    return "".join(ch for ch in raw.lower() if ch.isalnum())


def looks_like_recovery_code(raw: str) -> bool:
    return len(normalise_recovery_code(raw)) == 12


# -- sessions and lock-out ----------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    """How long a staff session lives: idle and absolute limits."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    # Between the password and the second factor.
    pending_mfa: timedelta = timedelta(minutes=5)


def session_expired(
    policy: SessionPolicy, created: datetime, last_seen: datetime, mfa_passed: bool, now: datetime
) -> bool:
    """Whether a session is over (idle, absolute, or a second factor not given in time)."""
    if not mfa_passed:
        return now - created > policy.pending_mfa
    return now - last_seen > policy.idle or now - created > policy.absolute


@dataclass(frozen=True)
class LockoutPolicy:
    """Failures in a window lock an account name or a client for a while."""

    per_account: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)
