"""The app's audit reader with oversight agencies, for the HTTP tests of tests/audit.

``tarcza.app`` passes ``Settings.oversight_agencies`` to the ``AuditLogReader`` it
builds; these tests choose the oversight agencies themselves, so they swap the
reader for one built the same way over the same database and key.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tarcza.config import Keys
from tarcza.oversight.service import AuditLogReader
from tarcza.services import Services
from tests.support.staff import context


def oversee(client: TestClient, *agencies: str) -> None:
    """Make ``agencies`` the oversight agencies of ``client``'s app (none: every auditor is
    confined to their own agency)."""
    state = client.app.state  # type: ignore[attr-defined]
    old: Services = state.services
    key = old.get(Keys).audit_signing_key
    reader = AuditLogReader(context(client).db, key, oversight_agencies=agencies)
    state.services = Services({**old._items, AuditLogReader: reader})
