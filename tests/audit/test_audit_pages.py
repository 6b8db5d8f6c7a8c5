"""The audit log through HTTP: the auditor's page and API, and who else gets nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.app import Application
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.config import load_keys
from tarcza.oversight.export import public_key_b64, verify_export
from tests.audit.oversight import oversee
from tests.support.staff import StaffUser, add_agencies, add_staff, context, sign_in

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PAGE, ENTRIES, EXPORT = "/staff/audit", "/api/v1/audit/entries", "/api/v1/audit/export"


def as_user(client: TestClient, user: StaffUser) -> TestClient:
    """A client of its own (own cookies) signed in as ``user``."""
    own = TestClient(client.app, base_url="http://127.0.0.1")
    sign_in(own, user)
    return own


def record(ctx: Application, actor: str, action: str, subject_id: str, hours: int) -> None:
    with ctx.db.transaction() as session:
        audit.append(
            session,
            actor=actor,
            agency="hotline",
            action=action,
            subject_type="report",
            subject_id=subject_id,
            now=T0 + timedelta(hours=hours),
            reason="Ocena materiału" if action == "evidence.revealed" else None,
            details={"evidence": hours},
        )


@pytest.fixture
def auditor(client: TestClient) -> TestClient:
    ctx = context(client)
    # Entries 1 to 4; then the agencies' and the auditor's own.
    record(ctx, "anna", "report.personal_read", "TZ-AAAA-0001", 0)
    record(ctx, "anna", "evidence.revealed", "TZ-AAAA-0001", 1)
    record(ctx, "bartek", "evidence.previewed", "TZ-BBBB-0002", 2)
    record(ctx, "anna", "report.status_changed", "TZ-CCCC-0003", 3)
    add_agencies(ctx)
    oversee(client, "ministry")  # olga's ministry oversees every agency
    return as_user(client, add_staff(ctx, "ministry", Role.AUDITOR, "olga"))


def searched(client: TestClient) -> list[dict[str, Any]]:
    with context(client).db.sessions() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.searched"))
        return [json.loads(row.details) | {"actor": row.actor} for row in rows]


def table_rows(html: str) -> list[str]:
    body = html.split('id="audit-entries"', 1)[1] if 'id="audit-entries"' in html else ""
    return re.findall(r"<tr>\s*<td>(\d+)</td>", body)


# -- the page ---------------------------------------------------------------------------------


def test_the_page_shows_a_labelled_filter_and_the_newest_entries_in_polish(
    auditor: TestClient,
) -> None:
    page = auditor.get(PAGE)
    assert page.status_code == 200
    assert '<html lang="pl">' in page.text and "Dziennik audytu" in page.text
    for field in ("actor", "agency", "action", "subject_type", "subject_id", "since", "until"):
        assert f'<label for="f-{field}">' in page.text and f'id="f-{field}"' in page.text
    assert 'method="get" action="/staff/audit"' in page.text
    seqs = [int(s) for s in table_rows(page.text)]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) > 4
    assert "<details>" in page.text and "Ocena materiału" in page.text
    assert "2026-11-01 09:00:00" in page.text


def test_an_auditor_finds_entries_by_actor_action_and_subject(auditor: TestClient) -> None:
    page = auditor.get(PAGE, params={"actor": "anna", "action": "evidence."})
    assert page.status_code == 200
    assert "TZ-AAAA-0001" in page.text and "TZ-BBBB-0002" not in page.text
    assert len(table_rows(page.text)) == 1
    page = auditor.get(PAGE, params={"subject_type": "report", "subject_id": "TZ-CCCC-0003"})
    assert len(table_rows(page.text)) == 1 and "report.status_changed" in page.text
    page = auditor.get(PAGE, params={"actor": "nobody", "lang": "en"})
    assert page.status_code == 200 and "No entries match." in page.text


def test_the_search_on_the_page_is_itself_recorded(auditor: TestClient) -> None:
    auditor.get(PAGE, params={"actor": "bartek", "since": "2026-11-01"})
    (logged,) = [s for s in searched(auditor) if s["filter"].get("actor") == "bartek"]
    assert logged["actor"] == "olga"
    assert logged["filter"]["since"] == "2026-11-01T00:00:00.000000Z"
    assert logged["returned"] == 1


def test_older_entries_are_one_link_away(auditor: TestClient) -> None:
    first = auditor.get(PAGE, params={"actor": "anna", "limit": "2"})
    assert [int(s) for s in table_rows(first.text)] == [4, 2]
    older = re.search(r'href="(/staff/audit\?[^"]*before_seq=2[^"]*)" rel="next"', first.text)
    assert older is not None
    second = auditor.get(older.group(1).replace("&amp;", "&"))
    assert [int(s) for s in table_rows(second.text)] == [1]
    assert 'rel="next"' not in second.text and "Najnowsze wpisy" in second.text


@pytest.mark.parametrize(
    ("params", "polish", "english"),
    [
        ({"since": "wczoraj"}, "Od", "From"),
        ({"until": "2026-02-30"}, "Do", "Until"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "Koniec okresu", "The end of the period"),
        ({"actor": "an\x00na"}, "znaki", "characters"),
        ({"subject_id": "x" * 101}, "za długie", "too long"),
        ({"limit": "100000"}, "od 1 do 500", "from 1 to 500"),
        ({"before_seq": "-3"}, "numer wpisu", "number of an entry"),
    ],
)
def test_a_bad_filter_value_is_named_in_the_readers_language(
    auditor: TestClient, params: dict[str, str], polish: str, english: str
) -> None:
    page = auditor.get(PAGE, params=params)
    assert page.status_code == 422
    assert 'role="alert"' in page.text and polish in page.text
    assert "audit-entries" not in page.text
    english_page = auditor.get(PAGE, params={**params, "lang": "en"})
    assert english_page.status_code == 422 and english in english_page.text


def test_the_page_never_echoes_a_refused_value(auditor: TestClient) -> None:
    page = auditor.get(PAGE, params={"since": "<b>nonsense</b>", "actor": "anna"})
    assert page.status_code == 422
    assert "nonsense" not in page.text and 'value="anna"' in page.text


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPERVISOR])
def test_casework_roles_get_403(client: TestClient, auditor: TestClient, role: Role) -> None:
    other = as_user(client, add_staff(context(client), "hotline", role))
    for path in (PAGE, f"{PAGE}/export", ENTRIES, EXPORT):
        assert other.get(path).status_code == 403, path
    assert "/staff/audit" not in other.get("/staff/queue").text


def test_the_coordinator_gets_403(client: TestClient, auditor: TestClient) -> None:
    coordinator = as_user(client, add_staff(context(client), "ministry", Role.COORDINATOR))
    for path in (PAGE, f"{PAGE}/export", ENTRIES, EXPORT):
        assert coordinator.get(path).status_code == 403, path


def test_anonymous_visitors_are_sent_to_sign_in_or_get_401(client: TestClient) -> None:
    for path in (PAGE, f"{PAGE}/export"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/staff/login"
    for path in (ENTRIES, EXPORT):
        assert client.get(path).status_code == 401


def test_the_auditor_sees_the_audit_log_in_the_menu(auditor: TestClient) -> None:
    assert 'href="/staff/audit"' in auditor.get(PAGE).text


# -- the API ----------------------------------------------------------------------------------


def test_the_api_finds_entries_with_every_column_newest_first(auditor: TestClient) -> None:
    answer = auditor.get(ENTRIES, params={"actor": "anna", "limit": 2})
    assert answer.status_code == 200
    body = answer.json()
    assert [e["seq"] for e in body["entries"]] == [4, 2]
    assert body["next_before_seq"] == 2
    entry = body["entries"][1]
    assert entry["action"] == "evidence.revealed" and entry["reason"] == "Ocena materiału"
    assert json.loads(entry["details"]) == {"evidence": 1}
    assert entry["created_at"].startswith("2026-11-01T09:00:00")
    assert len(entry["entry_hash"]) == 64 and len(entry["prev_hash"]) == 64
    rest = auditor.get(ENTRIES, params={"actor": "anna", "limit": 2, "before_seq": 2}).json()
    assert [e["seq"] for e in rest["entries"]] == [1] and rest["next_before_seq"] is None
    assert len([s for s in searched(auditor) if s["filter"].get("actor") == "anna"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=100000", "limit"),
        ("limit=0", "limit"),
        ("limit=1e3", "limit"),
        ("before_seq=99999999999999999999999", "before_seq"),
        ("actor=an%00na", "actor"),
        (f"subject_type={'x' * 51}", "subject_type"),
        ("action=", "action"),
        ("since=not-a-date", "since"),
        ("since=1700000000", "since"),
        ("until=2026-11-22T25:00", "until"),
        ("colour=blue", "colour"),
    ],
)
def test_the_api_refuses_bad_input_with_422_naming_the_field(
    auditor: TestClient, query: str, field: str
) -> None:
    answer = auditor.get(f"{ENTRIES}?{query}")
    assert answer.status_code == 422, answer.text
    assert field in [e["loc"][-1] for e in answer.json()["detail"]]


def test_the_api_reads_extreme_and_empty_periods_without_refusing(auditor: TestClient) -> None:
    for query in (
        "since=0001-01-01T00:00:00%2B01:00",
        "until=9999-12-31",
        "since=2026-11-05&until=2026-11-01",
    ):
        answer = auditor.get(f"{ENTRIES}?{query}")
        assert answer.status_code == 200, query
    assert answer.json()["entries"] == []


def test_the_api_answers_every_time_zone_in_utc(auditor: TestClient) -> None:
    since = quote("2026-11-01T10:30:00+01:00")  # 09:30 UTC: entries at 10:00 and 11:00 UTC
    body = auditor.get(f"{ENTRIES}?since={since}").json()
    times = [e["created_at"] for e in body["entries"] if e["action"] != "audit.searched"]
    assert [t[:19] for t in times if t.startswith("2026-11-01")] == [
        "2026-11-01T11:00:00",
        "2026-11-01T10:00:00",
    ]


# -- exports ----------------------------------------------------------------------------------


def trusted_key(client: TestClient) -> str:
    return public_key_b64(load_keys(context(client).settings).audit_signing_key)


def test_the_page_offers_a_signed_export_that_verifies(auditor: TestClient) -> None:
    page = auditor.get(PAGE, params={"since": "2026-11-01", "until": "2026-11-01"})
    assert trusted_key(auditor) in page.text
    link = re.search(r'href="(/staff/audit/export\?[^"]*)"', page.text)
    assert link is not None
    download = auditor.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    verdict = verify_export(download.content, trusted_key(auditor))
    assert verdict.ok and verdict.trusted and verdict.count == 4


def test_the_api_export_verifies_and_is_recorded(auditor: TestClient) -> None:
    answer = auditor.get(EXPORT)
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    assert verify_export(answer.content, trusted_key(auditor)).ok
    with context(auditor).db.sessions() as session:
        exported = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.exported")
        ).all()
        assert [e.actor for e in exported] == ["olga"]
        assert audit.verify_log(session).ok


def test_an_export_with_a_bad_period_is_refused(auditor: TestClient) -> None:
    assert auditor.get(EXPORT, params={"since": "nonsense"}).status_code == 422
    page = auditor.get(f"{PAGE}/export", params={"until": "2026-13-01"})
    assert page.status_code == 422 and "Do" in page.text


# -- hostile input ----------------------------------------------------------------------------

nasty = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\r", "\n", "%", "_", "\\", "\u202e", "\ufeff", "٣", "🏴"]),
    ),
    max_size=40,
)
FIELDS = ("actor", "agency", "action", "subject_id", "since", "until", "limit", "before_seq")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=st.dictionaries(st.sampled_from(FIELDS), nasty, max_size=4))
def test_any_filter_is_answered_without_a_server_error(
    auditor: TestClient, params: dict[str, str]
) -> None:
    for path in (PAGE, ENTRIES):
        assert auditor.get(path, params=params).status_code in (200, 422), (path, params)
