"""Searching the audit log: for auditors only, and every search is itself logged.

Oversight of the overseers: whoever reads the log leaves an ``audit.searched``
entry saying what they looked for and how many entries they were shown.

An auditor reads their own agency's entries only; only an auditor of an
oversight agency reads every agency's. The scope is part of the query, so an
entry outside it is never counted, returned or used as a paging cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, select

from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.errors import Denied
from tarcza.store.engine import Database

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_SEQ = 2**63 - 1
# Longest accepted value of each text filter: the column's own length.
TEXT_LIMITS = {"actor": 200, "agency": 100, "action": 100, "subject_type": 50, "subject_id": 100}
# No control characters: PostgreSQL refuses NUL in text, and no stored value has any.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]+$"
_PLAIN = re.compile(PLAIN_TEXT)
# ISO 8601 as people and RFC 3339 write it: a date, or a date and time, with or without a zone.
_ISO = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt ](?P<time>[0-9]{2}:[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.[0-9]+)?)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_MOMENT = TypeAdapter(datetime)
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


class FilterRejected(ValueError):
    """A filter value that cannot be searched for: ``field`` and ``code`` say which and why."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every given condition must hold. Times are UTC, ``until`` exclusive
    (a period that ends before it starts is empty).

    ``action`` is an exact action, or a prefix when it ends with a dot (``evidence.``).
    Results come newest first; ``before_seq`` pages to older entries.
    """

    actor: str | None = None
    agency: str | None = None
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    before_seq: int | None = None

    def __post_init__(self) -> None:
        for name, longest in TEXT_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (len(value) > longest or not _PLAIN.match(value)):
                raise FilterRejected(name, "invalid")
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise FilterRejected(name, "naive")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise FilterRejected("limit", "range")
        if self.before_seq is not None and not 1 <= self.before_seq <= MAX_SEQ:
            raise FilterRejected("before_seq", "range")

    def as_details(self) -> dict[str, Any]:
        """The conditions given, as JSON values (for the audit entry of the search)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = chain.timestamp(value) if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as an auditor sees it: every stored column."""

    seq: int
    created_at: datetime
    actor: str
    agency: str | None
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    details: str
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, row: AuditEntry) -> AuditRow:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def search(
    db: Database,
    principal: Principal,
    wanted: AuditFilter,
    now: datetime,
    *,
    all_agencies: bool = False,
) -> list[AuditRow]:
    """The entries matching ``wanted``, newest first; the search is logged as ``audit.searched``.

    Only the entries of the principal's agency are searched, unless ``all_agencies``
    (the caller's decision: the principal's agency is an oversight agency).
    """
    if not permits(principal, Action.AUDIT_LOG_SEARCH, Relation.OWN):
        raise Denied()
    scope = None if all_agencies else principal.agency
    with db.transaction() as session:
        rows = [AuditRow.of(row) for row in session.scalars(_query(wanted, scope))]
        audit.append(
            session,
            actor=principal.username,
            agency=principal.agency,
            action="audit.searched",
            subject_type="audit_log",
            subject_id="search",
            now=now,
            details={"filter": wanted.as_details(), "returned": len(rows)},
        )
    return rows


def next_before_seq(rows: list[AuditRow], wanted: AuditFilter) -> int | None:
    """The ``before_seq`` of the next older page, or None when this page was the last."""
    if len(rows) < wanted.limit or rows[-1].seq <= 1:
        return None
    return rows[-1].seq


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """A UTC moment from ISO 8601 text; a bare date is its midnight (or the next, ``end_of_day``).

    A time without a zone is taken as UTC; a moment beyond what UTC can hold
    becomes the first or last moment there is. Raises ValueError for anything else.
    """
    match = _ISO.fullmatch(text)
    if match is None:
        raise ValueError("not an ISO 8601 date or date and time")
    if match["time"] is None:
        day = date.fromisoformat(text)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if not end_of_day:
            return moment
        return moment + timedelta(days=1) if day < date.max else _LAST
    if match["second"] == "60":  # a leap second: the last instant of its minute
        text = f"{match['date']}T{match['time']}:59.999999{match['zone'] or ''}"
    try:
        return as_utc(_MOMENT.validate_python(text))
    except ValidationError:
        raise ValueError("not an ISO 8601 date or date and time") from None


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one is taken as UTC), within what UTC can hold."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _FIRST if moment.year == datetime.min.year else _LAST


def _query(wanted: AuditFilter, scope: str | None) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if scope is not None:
        # Inside the query, before the limit: what the reader may not see is not there for them.
        stmt = stmt.where(AuditEntry.agency == scope)
    for name in ("actor", "agency", "subject_type", "subject_id"):
        value = getattr(wanted, name)
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, name) == value)
    if wanted.action is not None:
        if wanted.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(wanted.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == wanted.action)
    if wanted.since is not None:
        stmt = stmt.where(AuditEntry.created_at >= wanted.since)
    if wanted.until is not None:
        stmt = stmt.where(AuditEntry.created_at < wanted.until)
    if wanted.before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < wanted.before_seq)
    return stmt.order_by(AuditEntry.seq.desc()).limit(wanted.limit)
