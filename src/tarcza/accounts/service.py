"""Managing agencies and staff accounts.

Administrators manage the accounts of their own agency only; the first
administrator of an agency is made from the command line (``actor=None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tarcza.accounts import rules
from tarcza.accounts.auth import hash_password
from tarcza.accounts.models import Agency, RecoveryCode, StaffSession, User
from tarcza.accounts.permissions import (
    Action,
    AgencyKind,
    Principal,
    Relation,
    Role,
    permits,
    role_allowed,
)
from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.errors import NotFound, Refused
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

P = ParamSpec("P")
T = TypeVar("T")


class AccountRefused(Refused):
    """The change is not allowed or not valid: ``field`` and ``message`` say why."""


class AccountNotFound(NotFound):
    """No such account (or not one this administrator may see)."""


@dataclass(frozen=True)
class AgencyInfo:
    code: str
    name: str
    kind: AgencyKind


@dataclass(frozen=True)
class UserInfo:
    username: str
    agency: str
    role: Role
    display_name: str | None
    active: bool
    second_factor: bool
    created_at: datetime


@dataclass(frozen=True)
class NewAccount:
    """A new account and its first password (shown once)."""

    username: str
    password: str


class AccountService:
    """Agencies and users."""

    def __init__(
        self, db: Database, keyring: KeyRing, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self._keys = keyring
        self._clock = clock

    # -- agencies -----------------------------------------------------------------

    def add_agency(self, code: str, name: str, kind: AgencyKind) -> AgencyInfo:
        """Create an agency, or return it unchanged when it exists with the same kind."""
        code = _checked(rules.check_agency_code, code)
        with self._db.transaction() as session:
            found = session.scalar(select(Agency).where(Agency.code == code))
            if found is not None:
                if found.kind != kind.value:
                    raise AccountRefused("kind", "conflict", f"{code} exists as {found.kind}")
                return _agency_info(found)
            row = Agency(code=code, name=name.strip()[:200] or code, kind=kind.value)
            row.created_at = self._clock()
            session.add(row)
            audit.append(
                session,
                actor="system",
                action="agency.created",
                subject_type="agency",
                subject_id=code,
                now=row.created_at,
                details={"kind": kind.value},
            )
            return _agency_info(row)

    def agencies(self) -> list[AgencyInfo]:
        """Every agency, by code."""
        with self._db.sessions() as session:
            rows = session.scalars(select(Agency).order_by(Agency.code))
            return [_agency_info(row) for row in rows]

    # -- users --------------------------------------------------------------------

    def add_user(
        self,
        actor: Principal | None,
        *,
        agency: str,
        username: str,
        role: Role,
        display_name: str | None = None,
        password: str | None = None,
    ) -> NewAccount:
        """Create an account; the password is generated unless given."""
        name = _checked(rules.check_username, username)
        secret = password if password is not None else rules.new_password()
        _checked(rules.check_password, secret, name)
        now = self._clock()
        with self._db.transaction() as session:
            row = session.scalar(select(Agency).where(Agency.code == agency))
            if row is None:
                raise AccountRefused("agency", "unknown", f"No agency {agency!r}.")
            self._may_manage(actor, row.code)
            if not role_allowed(AgencyKind(row.kind), role):
                raise AccountRefused(
                    "role", "not_for_agency", f"A {row.kind} agency has no {role.value} role."
                )
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise AccountRefused("username", "taken", "This username is taken.")
            user = User(
                agency_id=row.id,
                username=name,
                role=role.value,
                password_hash=hash_password(secret),
                active=True,
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            session.flush()
            if display_name:
                user.display_name_sealed = self._keys.seal_text(
                    display_name.strip()[:200], f"user:{user.id}:name"
                )
            self._audit(session, actor, "user.created", name, row.code, now, {"role": role.value})
        return NewAccount(username=name, password=secret)

    def users(self, actor: Principal) -> list[UserInfo]:
        """The accounts of the administrator's own agency."""
        self._may_manage(actor, actor.agency)
        return self.agency_users(actor.agency)

    def agency_users(self, agency: str) -> list[UserInfo]:
        """The accounts of ``agency``, for the command line (pages use :meth:`users`)."""
        with self._db.sessions() as session:
            if session.scalar(select(Agency.id).where(Agency.code == agency)) is None:
                raise AccountRefused("agency", "unknown", f"No agency {agency!r}.")
            rows = session.scalars(
                select(User)
                .join(Agency, Agency.id == User.agency_id)
                .where(Agency.code == agency)
                .order_by(User.username)
            )
            return [self._user_info(row) for row in rows]

    def colleagues(self, agency: str) -> list[str]:
        """Active usernames of an agency (for assigning work)."""
        with self._db.sessions() as session:
            return list(
                session.scalars(
                    select(User.username)
                    .join(Agency, Agency.id == User.agency_id)
                    .where(Agency.code == agency, User.active)
                    .order_by(User.username)
                )
            )

    def acting_as(self, username: str) -> Principal:
        """The active account ``username`` as a principal, for a command run on the server
        on that person's behalf (who may use the server's command line is the operator's
        control; the person's own permissions still decide what the command may do)."""
        with self._db.sessions() as session:
            user = session.scalar(select(User).where(User.username == username, User.active))
            if user is None:
                raise AccountNotFound()
            agency = session.get(Agency, user.agency_id)
            assert agency is not None
            return Principal(
                user_id=user.id,
                username=user.username,
                agency=agency.code,
                agency_kind=AgencyKind(agency.kind),
                role=Role(user.role),
                mfa_passed=True,
            )

    def set_active(self, actor: Principal, username: str, active: bool) -> None:
        """Suspend (ending every session) or re-activate an account of the same agency."""
        now = self._clock()
        with self._db.transaction() as session:
            user = self._managed_user(session, actor, username)
            user.active = active
            if not active:
                _end_sessions(session, user.id)
            action = "user.activated" if active else "user.suspended"
            self._audit(session, actor, action, user.username, actor.agency, now, {})

    def reset_second_factor(self, actor: Principal, username: str) -> None:
        """Clear the TOTP secret and recovery codes: the person enrols again at next login."""
        now = self._clock()
        with self._db.transaction() as session:
            user = self._managed_user(session, actor, username)
            user.totp_secret_sealed, user.totp_last_step = None, None
            for code in session.scalars(
                select(RecoveryCode).where(RecoveryCode.user_id == user.id)
            ):
                session.delete(code)
            _end_sessions(session, user.id)
            self._audit(
                session, actor, "user.second_factor_reset", user.username, actor.agency, now, {}
            )

    def reset_password(self, actor: Principal, username: str) -> NewAccount:
        """A new generated password (shown once); every session of the account ends."""
        now = self._clock()
        secret = rules.new_password()
        with self._db.transaction() as session:
            user = self._managed_user(session, actor, username)
            user.password_hash, user.password_changed_at = hash_password(secret), now
            _end_sessions(session, user.id)
            self._audit(session, actor, "user.password_reset", user.username, actor.agency, now, {})
        return NewAccount(username=user.username, password=secret)

    # -- helpers ------------------------------------------------------------------

    def _may_manage(self, actor: Principal | None, agency: str) -> None:
        if actor is None:  # the command line, run by whoever runs the server
            return
        relation = Relation.OWN if actor.agency == agency else Relation.OTHER
        if not permits(actor, Action.USER_ACCOUNT_MANAGE, relation):
            raise AccountNotFound()

    def _managed_user(self, session: Session, actor: Principal, username: str) -> User:
        self._may_manage(actor, actor.agency)
        name = rules.normalise_username(username)
        if not rules.USERNAME.match(name):  # no such account; and PostgreSQL refuses NUL
            raise AccountNotFound()
        user = session.scalar(
            select(User)
            .join(Agency, Agency.id == User.agency_id)
            .where(User.username == name)
            .where(Agency.code == actor.agency)
        )
        if user is None:
            raise AccountNotFound()
        if user.id == actor.user_id:
            raise AccountRefused("username", "self", "Administrators cannot change themselves.")
        return user

    def _user_info(self, row: User) -> UserInfo:
        name = (
            self._keys.open_text(row.display_name_sealed, f"user:{row.id}:name")
            if row.display_name_sealed
            else None
        )
        return UserInfo(
            username=row.username,
            agency=row.agency.code,
            role=Role(row.role),
            display_name=name,
            active=row.active,
            second_factor=row.totp_secret_sealed is not None,
            created_at=row.created_at,
        )

    def _audit(
        self,
        session: Session,
        actor: Principal | None,
        action: str,
        subject: str,
        agency: str,
        now: datetime,
        details: dict[str, str],
    ) -> None:
        audit.append(
            session,
            actor=actor.username if actor else "command-line",
            agency=actor.agency if actor else agency,
            action=action,
            subject_type="user",
            subject_id=subject,
            now=now,
            details=details,
        )


def _end_sessions(session: Session, user_id: int) -> None:
    session.execute(
        update(StaffSession).where(StaffSession.user_id == user_id).values(revoked=True)
    )


def _agency_info(row: Agency) -> AgencyInfo:
    return AgencyInfo(code=row.code, name=row.name, kind=AgencyKind(row.kind))


def _checked(check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return check(*args, **kwargs)
    except rules.AccountRuleViolation as exc:
        raise AccountRefused(exc.field, exc.code, exc.message) from exc
