"""Account fixtures: a clock that only moves when told, services on each database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.auth import AuthService
from tarcza.accounts.permissions import AgencyKind
from tarcza.accounts.service import AccountService
from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tests.support.staff import add_agencies, context

if TYPE_CHECKING:
    from tests.accounts.helpers import Web


class Clock:
    """A fake clock: ``clock()`` is now; ``advance`` moves it on."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Desk:
    """What the sign-in tests work with."""

    auth: AuthService
    accounts: AccountService
    keyring: KeyRing
    clock: Clock


@pytest.fixture
def clock() -> Clock:
    # The middle of a TOTP step, so that one step of drift either way stays clear.
    return Clock(datetime(2025, 3, 14, 9, 0, 15, tzinfo=UTC))


@pytest.fixture
def desk(db: Database, settings: Settings, clock: Clock) -> Desk:
    keyring = KeyRing(load_keys(settings))
    accounts = AccountService(db, keyring, clock=clock)
    accounts.add_agency("hotline", "Hotline", AgencyKind.HOTLINE)
    accounts.add_agency("police", "Police", AgencyKind.POLICE)
    return Desk(AuthService(db, keyring, clock=clock), accounts, keyring, clock)


@pytest.fixture
def web(client: TestClient) -> Web:
    """The app with the usual agencies, its sign-in service on a fake clock."""
    from tests.accounts.helpers import Web

    ctx = context(client)
    clock = Clock(utcnow().replace(microsecond=0))
    ctx.auth = AuthService(ctx.db, ctx.keyring, clock=clock)
    add_agencies(ctx)
    return Web(client, ctx, clock)
