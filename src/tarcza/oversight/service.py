"""The auditors' reading of the log: search and signed export, each itself audited."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from tarcza.accounts.permissions import Principal
from tarcza.oversight import search
from tarcza.oversight.export import Export, export_log, public_key_b64
from tarcza.store.base import utcnow
from tarcza.store.engine import Database


class AuditLogReader:
    """Search and export the audit log for a person who may (the checks are in each call).

    An auditor reads their own agency's entries; an auditor of one of
    ``oversight_agencies`` (agency codes; none by default) reads every agency's.
    """

    def __init__(
        self,
        db: Database,
        signing_key: bytes,
        *,
        oversight_agencies: Iterable[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._key = signing_key
        self._oversight = frozenset(oversight_agencies)
        self._clock = clock

    def sees_all(self, principal: Principal) -> bool:
        """Whether ``principal``'s agency oversees every agency (reads the whole log)."""
        return principal.agency in self._oversight

    @property
    def public_key(self) -> str:
        """The base64 public key that verifies this system's exports and checkpoints."""
        return public_key_b64(self._key)

    def search(self, principal: Principal, wanted: search.AuditFilter) -> list[search.AuditRow]:
        """The entries ``wanted`` matches, newest first (the search is audited)."""
        return search.search(
            self._db, principal, wanted, self._clock(), all_agencies=self.sees_all(principal)
        )

    def export(
        self, principal: Principal, since: datetime | None, until: datetime | None
    ) -> Export:
        """A signed export of the entries made in [since, until) (the export is audited);
        other agencies' entries are hashes only unless the principal sees all."""
        return export_log(
            self._db,
            principal,
            signing_key=self._key,
            now=self._clock(),
            since=since,
            until=until,
            all_agencies=self.sees_all(principal),
        )
