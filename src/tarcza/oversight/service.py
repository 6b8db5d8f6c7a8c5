"""The auditors' reading of the log: search and signed export, each itself audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tarcza.accounts.permissions import Principal
from tarcza.oversight import search
from tarcza.oversight.export import Export, export_log, public_key_b64
from tarcza.store.base import utcnow
from tarcza.store.engine import Database


class AuditLogReader:
    """Search and export the audit log for a person who may (the checks are in each call)."""

    def __init__(
        self, db: Database, signing_key: bytes, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self._key = signing_key
        self._clock = clock

    @property
    def public_key(self) -> str:
        """The base64 public key that verifies this system's exports and checkpoints."""
        return public_key_b64(self._key)

    def search(self, principal: Principal, wanted: search.AuditFilter) -> list[search.AuditRow]:
        """The entries ``wanted`` matches, newest first (the search is audited)."""
        return search.search(self._db, principal, wanted, self._clock())

    def export(
        self, principal: Principal, since: datetime | None, until: datetime | None
    ) -> Export:
        """A signed export of the entries made in [since, until) (the export is audited)."""
        return export_log(
            self._db, principal, signing_key=self._key, now=self._clock(), since=since, until=until
        )
