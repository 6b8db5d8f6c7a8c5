"""Signing in: password (argon2id), second factor (TOTP or a recovery code), sessions.

A session token lives only in the person's cookie; the database keeps its
keyed hash. Signing in takes two steps, each of which issues a new token
(no session fixation): the password gives a session that holds no
permission, the second factor turns it into a full one.

Failures never say whether the account exists: an unknown name costs the
same argon2 verification as a wrong password, and both count towards the
same lock-out, keyed by the name typed and by the client.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tarcza.accounts import rules
from tarcza.accounts.models import Agency, RecoveryCode, StaffSession, User
from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.store import throttle
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB, t=3, p=4)


class LoginFailed(Exception):
    """The name, the password or the code is wrong (which one is not said)."""


class SessionInvalid(Exception):
    """No live session for this token (unknown, expired, revoked or at the wrong step)."""


@dataclass(frozen=True)
class LoginStep:
    """A session after the password: it needs the second factor next."""

    token: str
    needs_enrolment: bool


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret being enrolled, for the person to add to their app."""

    secret: str
    uri: str


@dataclass(frozen=True)
class SignedIn:
    """A full session, and (after enrolment) the recovery codes to show once."""

    token: str
    recovery_codes: tuple[str, ...] = ()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _HASHER.hash(password)


def _unmatchable_hash() -> str:
    """An argon2id hash, with ``_HASHER``'s parameters, that no password matches: a random salt
    and a random digest. Verifying against it costs what verifying against a real hash costs
    (the same argon2 run, then a comparison that fails), without hashing anything to make it:
    ``_HASHER.hash`` costs about 0.3 s of CPU, which every worker paid at start."""

    def b64(data: bytes) -> str:  # argon2's encoding: standard base64 without padding
        return base64.b64encode(data).decode().rstrip("=")

    salt = secrets.token_bytes(_HASHER.salt_len)
    digest = secrets.token_bytes(_HASHER.hash_len)
    parameters = f"m={_HASHER.memory_cost},t={_HASHER.time_cost},p={_HASHER.parallelism}"
    return f"$argon2id$v=19${parameters}${b64(salt)}${b64(digest)}"


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class AuthService:
    """Logins, second factors and sessions."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        sessions: rules.SessionPolicy | None = None,
        lockout: rules.LockoutPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._keys = keyring
        self._policy = sessions or rules.SessionPolicy()
        self._lockout = lockout or rules.LockoutPolicy()
        self._clock = clock
        # Verified against when the name is unknown, so that both cost the same.
        self._dummy_hash = _unmatchable_hash()

    # -- tokens -------------------------------------------------------------------

    def _token_hash(self, token: str) -> str:
        return self._keys.keyed_hash("staff-session", token)

    def csrf_token(self, token: str) -> str:
        """The CSRF token that goes with a session (or pre-login) token."""
        return self._keys.keyed_hash("csrf", token)[:40]

    def csrf_valid(self, token: str, offered: str) -> bool:
        """Whether ``offered`` is the CSRF token of ``token`` (any text: compared as bytes)."""
        expected, given = self.csrf_token(token).encode(), (offered or "").encode()
        return bool(token) and secrets.compare_digest(expected, given)

    def _new_session(self, session: Session, user: User, *, mfa: bool, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        session.add(
            StaffSession(
                token_hash=self._token_hash(token),
                user_id=user.id,
                mfa_passed=mfa,
                created_at=now,
                last_seen_at=now,
                revoked=False,
            )
        )
        return token

    # -- step 1: the password -------------------------------------------------------

    def password(self, username: str, password: str, client: str) -> LoginStep:
        """Check name and password; LoginFailed or Throttled otherwise."""
        now = self._clock()
        name = rules.normalise_username(username)[:100]
        name_key = self._keys.keyed_hash("throttle-login", name)
        client_key = self._keys.keyed_hash("throttle-login-client", client)
        keys = self._take_attempts(name_key, client_key, now)
        with self._db.transaction() as session:
            # A name no account can have is not looked up (PostgreSQL refuses NUL, for one).
            user = (
                session.scalar(select(User).where(User.username == name, User.active))
                if rules.USERNAME.match(name)
                else None
            )
            ok = _password_matches(user.password_hash if user else self._dummy_hash, password)
            if user is None or not ok:
                if user is not None:
                    self._audit(session, user, "auth.login_failed", now, {"step": "password"})
                failed = True
            else:
                failed = False
                # The failures are forgotten only after the second factor: forgetting them
                # here would let whoever has the password guess codes without limit.
                self._give_back(session, keys)
                token = self._new_session(session, user, mfa=False, now=now)
                needs = user.totp_secret_sealed is None
        if failed:
            raise LoginFailed()
        return LoginStep(token=token, needs_enrolment=needs)

    def _take_attempts(
        self, name_key: str, client_key: str, now: datetime
    ) -> tuple[tuple[str, int], ...]:
        """Take (and commit) an attempt per client and per name before anything is checked:
        however many arrive at once, no more than the limits are evaluated (or Throttled)."""
        lock = self._lockout
        keys = ((client_key, lock.per_client), (name_key, lock.per_account))
        throttle.take_attempts(self._db, keys, window=lock.window, lock=lock.lock, now=now)
        return keys

    @staticmethod
    def _give_back(session: Session, keys: tuple[tuple[str, int], ...]) -> None:
        """A success: its attempt is given back, so that only failures stay counted."""
        for key, limit in keys:
            throttle.give_back(session, key, limit)

    def _pending_name(self, token: str, now: datetime) -> str:
        """The name of the person whose session waits for a second factor (or SessionInvalid)."""
        with self._db.transaction() as session:
            return self._pending(session, token, now)[1].username

    # -- step 2: the second factor --------------------------------------------------

    def _pending(self, session: Session, token: str, now: datetime) -> tuple[StaffSession, User]:
        row = session.get(StaffSession, self._token_hash(token), with_for_update=True)
        if row is None or row.revoked or row.mfa_passed:
            raise SessionInvalid()
        if rules.session_expired(self._policy, row.created_at, row.last_seen_at, False, now):
            raise SessionInvalid()
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            raise SessionInvalid()
        return row, user

    def second_factor(self, token: str, code: str, client: str) -> SignedIn:
        """Check a TOTP code or a recovery code; a full session on success."""
        now = self._clock()
        failed = False
        name_key = self._keys.keyed_hash("throttle-login", self._pending_name(token, now))
        client_key = self._keys.keyed_hash("throttle-login-client", client)
        keys = self._take_attempts(name_key, client_key, now)
        with self._db.transaction() as session:
            row, user = self._pending(session, token, now)
            if user.totp_secret_sealed is None:
                raise SessionInvalid()  # the attempt stays counted: a rare odd request
            used = self._use_code(session, user, code, now)
            if used is None:
                self._audit(session, user, "auth.login_failed", now, {"step": "second_factor"})
                failed = True
            else:
                row.revoked = True
                self._give_back(session, keys)
                throttle.forget(session, name_key)
                full = self._new_session(session, user, mfa=True, now=now)
                self._audit(session, user, "auth.login", now, {"second_factor": used})
        if failed:
            raise LoginFailed()
        return SignedIn(token=full)

    def _use_code(self, session: Session, user: User, code: str, now: datetime) -> str | None:
        assert user.totp_secret_sealed is not None
        secret = self._keys.open_text(user.totp_secret_sealed, f"user:{user.id}:totp")
        step = rules.totp_step(secret, code, now, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return "totp"
        if rules.looks_like_recovery_code(code):
            wanted = self._keys.keyed_hash(
                "recovery", f"{user.id}:{rules.normalise_recovery_code(code)}"
            )
            found = session.scalar(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == wanted,
                    RecoveryCode.used_at.is_(None),
                )
            )
            if found is not None:
                found.used_at = now
                return "recovery_code"
        return None

    def pending_step(self, token: str) -> str:
        """What a session after the password needs next: ``"code"`` or ``"enrol"``.

        SessionInvalid when ``token`` is no session waiting for its second factor.
        """
        with self._db.transaction() as session:
            _row, user = self._pending(session, token, self._clock())
            return "enrol" if user.totp_secret_sealed is None else "code"

    def start_enrolment(self, token: str) -> Enrolment:
        """A new TOTP secret for a person who has none yet (kept with the session)."""
        now = self._clock()
        with self._db.transaction() as session:
            row, user = self._pending(session, token, now)
            if user.totp_secret_sealed is not None:
                raise SessionInvalid()
            context = f"session:{row.token_hash}:totp"
            if row.pending_totp_sealed is None:
                secret = rules.new_totp_secret()
                row.pending_totp_sealed = self._keys.seal_text(secret, context)
            else:
                secret = self._keys.open_text(row.pending_totp_sealed, context)
            return Enrolment(
                secret=secret, uri=rules.totp_uri(secret, user.username, user.agency.code)
            )

    def finish_enrolment(self, token: str, code: str, client: str) -> SignedIn:
        """Confirm the new secret with a code: a full session and ten recovery codes."""
        now = self._clock()
        # Codes guessed while enrolling count towards the same lock-out as any other.
        name_key = self._keys.keyed_hash("throttle-login", self._pending_name(token, now))
        client_key = self._keys.keyed_hash("throttle-login-client", client)
        keys = self._take_attempts(name_key, client_key, now)
        with self._db.transaction() as session:
            row, user = self._pending(session, token, now)
            if user.totp_secret_sealed is not None or row.pending_totp_sealed is None:
                raise SessionInvalid()  # the attempt stays counted: a rare odd request
            secret = self._keys.open_text(row.pending_totp_sealed, f"session:{row.token_hash}:totp")
            step = rules.totp_step(secret, code, now, None)
            if step is None:
                failed = True
            else:
                failed = False
                user.totp_secret_sealed = self._keys.seal_text(secret, f"user:{user.id}:totp")
                user.totp_last_step = step
                codes = self._replace_recovery_codes(session, user)
                row.revoked = True
                self._give_back(session, keys)
                throttle.forget(session, name_key)
                full = self._new_session(session, user, mfa=True, now=now)
                self._audit(session, user, "auth.second_factor_enrolled", now, {})
                self._audit(session, user, "auth.login", now, {"second_factor": "totp"})
        if failed:
            raise LoginFailed()
        return SignedIn(token=full, recovery_codes=tuple(codes))

    def _replace_recovery_codes(self, session: Session, user: User) -> list[str]:
        for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
            session.delete(old)
        codes = rules.new_recovery_codes()
        for code in codes:
            digest = self._keys.keyed_hash(
                "recovery", f"{user.id}:{rules.normalise_recovery_code(code)}"
            )
            session.add(RecoveryCode(user_id=user.id, code_hash=digest))
        return codes

    # -- live sessions --------------------------------------------------------------

    def principal(self, token: str) -> Principal | None:
        """Who holds ``token`` (mfa_passed False until the second factor), or None."""
        if not token:
            return None
        now = self._clock()
        with self._db.transaction() as session:
            row = session.get(StaffSession, self._token_hash(token))
            if row is None or row.revoked:
                return None
            if rules.session_expired(
                self._policy, row.created_at, row.last_seen_at, row.mfa_passed, now
            ):
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            # Touch at most once a minute: every page view need not be a write.
            if (now - row.last_seen_at).total_seconds() > 60:
                row.last_seen_at = now
            return Principal(
                user_id=user.id,
                username=user.username,
                agency=user.agency.code,
                agency_kind=AgencyKind(user.agency.kind),
                role=Role(user.role),
                mfa_passed=row.mfa_passed,
            )

    def logout(self, token: str) -> None:
        """End this session."""
        with self._db.transaction() as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.token_hash == self._token_hash(token))
                .values(revoked=True)
            )

    def logout_everywhere(self, token: str) -> int:
        """End every session of the person holding ``token``; how many ended."""
        now = self._clock()
        with self._db.transaction() as session:
            row = session.get(StaffSession, self._token_hash(token))
            if row is None:
                return 0
            result = session.execute(
                update(StaffSession)
                .where(StaffSession.user_id == row.user_id, StaffSession.revoked.is_(False))
                .values(revoked=True)
            )
            user = session.get(User, row.user_id)
            if user is not None:
                self._audit(session, user, "auth.logout_everywhere", now, {})
            return int(getattr(result, "rowcount", 0) or 0)

    def _audit(
        self, session: Session, user: User, action: str, now: datetime, details: dict[str, str]
    ) -> None:
        agency = session.get(Agency, user.agency_id)
        audit.append(
            session,
            actor=user.username,
            agency=agency.code if agency else None,
            action=action,
            subject_type="user",
            subject_id=user.username,
            now=now,
            details=details,
        )
