"""Searching the audit log: auditors find entries, and every search is itself recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit import service as audit
from tarcza.errors import Denied
from tarcza.oversight.search import (
    AuditFilter,
    FilterRejected,
    next_before_seq,
    parse_moment,
    search,
)
from tarcza.store.engine import Database

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

AUDITOR = Principal(
    user_id=1,
    username="olga",
    agency="ministry",
    agency_kind=AgencyKind.COORDINATOR,
    role=Role.AUDITOR,
    mfa_passed=True,
)

# (actor, agency, action, subject_type, subject_id) — one entry an hour from T0.
ENTRIES = [
    ("public", None, "report.created", "report", "TZ-AAAA-0001"),
    ("anna", "hotline", "report.personal_read", "report", "TZ-AAAA-0001"),
    ("anna", "hotline", "evidence.previewed", "evidence", "1"),
    ("anna", "hotline", "evidence.revealed", "evidence", "1"),
    ("piotr", "police", "report.personal_read", "report", "TZ-AAAA-0002"),
    ("anna", "hotline", "report.status_changed", "report", "TZ-AAAA-0001"),
    ("kasia", "helpline", "evidence_x.odd", "evidence", "2"),
]


def fill(db: Database) -> None:
    for hour, (actor, agency, action, subject_type, subject_id) in enumerate(ENTRIES):
        with db.transaction() as session:
            audit.append(
                session,
                actor=actor,
                agency=agency,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                now=T0 + timedelta(hours=hour),
                reason="Ocena materiału" if action == "evidence.revealed" else None,
                details={"n": hour},
            )


def seqs(db: Database, **wanted: object) -> list[int]:
    return [row.seq for row in search(db, AUDITOR, AuditFilter(**wanted), NOW, all_agencies=True)]  # type: ignore[arg-type]


def test_an_auditor_finds_entries_by_actor_newest_first(db: Database) -> None:
    fill(db)
    assert seqs(db, actor="anna") == [6, 4, 3, 2]


def test_an_action_ending_with_a_dot_is_a_prefix_and_underscores_are_literal(db: Database) -> None:
    fill(db)
    assert seqs(db, action="evidence.") == [4, 3]
    assert seqs(db, action="evidence.revealed") == [4]
    assert seqs(db, action="evidence") == []


def test_the_subject_agency_and_period_narrow_the_search(db: Database) -> None:
    fill(db)
    assert seqs(db, subject_type="report", subject_id="TZ-AAAA-0001") == [6, 2, 1]
    assert seqs(db, agency="police") == [5]
    # since inclusive, until exclusive
    assert seqs(db, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4)) == [4, 3]


def test_every_column_is_returned(db: Database) -> None:
    fill(db)
    (row,) = search(db, AUDITOR, AuditFilter(action="evidence.revealed"), NOW, all_agencies=True)
    assert (row.actor, row.agency, row.reason) == ("anna", "hotline", "Ocena materiału")
    assert row.created_at == T0 + timedelta(hours=3)
    assert json.loads(row.details) == {"n": 3}
    assert len(row.entry_hash) == len(row.prev_hash) == 64


def test_paging_by_before_seq_walks_to_the_oldest(db: Database) -> None:
    fill(db)
    wanted = AuditFilter(limit=3)
    first = search(db, AUDITOR, wanted, NOW, all_agencies=True)
    assert [r.seq for r in first] == [7, 6, 5]
    older = next_before_seq(first, wanted)
    assert older == 5
    second = search(db, AUDITOR, AuditFilter(limit=3, before_seq=older), NOW, all_agencies=True)
    assert [r.seq for r in second] == [4, 3, 2]
    last = search(db, AUDITOR, AuditFilter(limit=3, before_seq=2), NOW, all_agencies=True)
    assert [r.seq for r in last] == [1]
    assert next_before_seq(last, wanted) is None


def test_the_search_itself_is_recorded_with_its_filter(db: Database) -> None:
    fill(db)
    assert seqs(db, actor="anna", action="evidence.", since=T0) == [4, 3]
    (logged,) = search(db, AUDITOR, AuditFilter(action="audit.searched"), NOW, all_agencies=True)
    assert (logged.actor, logged.agency, logged.subject_type) == ("olga", "ministry", "audit_log")
    assert json.loads(logged.details) == {
        "filter": {
            "actor": "anna",
            "action": "evidence.",
            "since": "2026-11-01T08:00:00.000000Z",
            "limit": 100,
        },
        "returned": 2,
    }
    with db.sessions() as session:
        assert audit.verify_log(session).ok


@pytest.mark.parametrize(
    "role", [Role.ANALYST, Role.COORDINATOR, Role.ADMINISTRATOR, Role.SUPERVISOR]
)
def test_no_one_but_an_auditor_may_search(db: Database, role: Role) -> None:
    kind = AgencyKind.COORDINATOR if role == Role.COORDINATOR else AgencyKind.HOTLINE
    someone = Principal(2, "x", "hotline", kind, role, mfa_passed=True)
    with pytest.raises(Denied):
        search(db, someone, AuditFilter(), NOW)
    with db.sessions() as session:
        assert audit.verify_log(session).count == 0  # a refused search leaves nothing


def test_an_auditor_without_the_second_factor_may_not_search(db: Database) -> None:
    half = Principal(1, "olga", "ministry", AgencyKind.COORDINATOR, Role.AUDITOR, mfa_passed=False)
    with pytest.raises(Denied):
        search(db, half, AuditFilter(), NOW)


# -- the filter's own rules (pure) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"actor": "an\x00na"}, "actor"),
        ({"subject_id": "x" * 101}, "subject_id"),
        ({"action": "a\nb"}, "action"),
        ({"since": datetime(2026, 1, 1)}, "since"),  # naive on purpose
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"before_seq": 0}, "before_seq"),
    ],
)
def test_a_filter_that_cannot_be_searched_is_refused(given: dict[str, object], field: str) -> None:
    with pytest.raises(FilterRejected) as caught:
        AuditFilter(**given)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2026-11-22", False, datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-22", True, datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-22T14:30", False, datetime(2026, 11, 22, 14, 30, tzinfo=UTC)),
        ("2026-11-22T14:30", True, datetime(2026, 11, 22, 14, 30, tzinfo=UTC)),
        ("2026-11-22T14:30:00+01:00", False, datetime(2026, 11, 22, 13, 30, tzinfo=UTC)),
        ("2026-11-22t14:30:00z", False, datetime(2026, 11, 22, 14, 30, tzinfo=UTC)),
    ],
)
def test_moments_are_read_as_utc(text: str, end: bool, expected: datetime) -> None:
    moment = parse_moment(text, end_of_day=end)
    assert moment == expected and moment.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-11-22T25:00",
        "٢٠٢٦-١١-٢٢",
        "1700000000",
        "0.5",
        "2026-11-22T14:30:00Z trailing",
    ],
)
def test_unreadable_moments_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_moment(text)


def test_moments_beyond_utc_become_its_first_or_last() -> None:
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    assert parse_moment("9999-12-31", end_of_day=True) == last
    assert parse_moment("9999-12-31T23:00:00-05:00") == last
    assert parse_moment("0001-01-01T00:00:00+01:00") == first


def test_a_leap_second_is_the_last_instant_of_its_minute() -> None:
    assert parse_moment("2016-12-31T23:59:60Z") == datetime(
        2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_a_period_that_ends_before_it_starts_holds_nothing(db: Database) -> None:
    fill(db)
    assert seqs(db, since=T0 + timedelta(hours=4), until=T0 + timedelta(hours=2)) == []
