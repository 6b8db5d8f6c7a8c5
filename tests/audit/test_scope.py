"""Whose activity an auditor reads: their own agency's; only an oversight agency reads all.

An auditor of the hotline must not learn what the police did — not through the
entries shown, their count, the paging cursor, nor an export, where the police's
entries are their hashes only (so the export still verifies as one chain).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tarcza import cli
from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.config import Keys, Settings
from tarcza.oversight.export import (
    encode,
    export_as,
    export_log,
    public_key_b64,
    sign,
    verify_export,
)
from tarcza.oversight.search import AuditFilter, next_before_seq, search
from tarcza.store.engine import Database
from tests.audit.oversight import oversee
from tests.support.staff import add_agencies, add_staff, context, sign_in

pytestmark = pytest.mark.abuse

KEY = bytes(range(32))
TRUSTED = public_key_b64(KEY)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOTLINE_AUDITOR = Principal(3, "hanna", "hotline", AgencyKind.HOTLINE, Role.AUDITOR, True)
SECRET = "TZ-POLI-CJA1"  # a subject only the police's entries name

# (actor, agency, subject_id): hotline and police interleaved, one with no agency.
ENTRIES = [
    ("anna", "hotline", "TZ-AAAA-0001"),  # 1
    ("piotr", "police", SECRET),  # 2
    ("anna", "hotline", "TZ-AAAA-0002"),  # 3
    ("piotr", "police", SECRET),  # 4
    ("piotr", "police", SECRET),  # 5
    ("public", None, "TZ-AAAA-0003"),  # 6
    ("anna", "hotline", "TZ-AAAA-0004"),  # 7
    ("piotr", "police", SECRET),  # 8
]
HOTLINE = [7, 3, 1]


def fill(db: Database) -> None:
    for hour, (actor, agency, subject_id) in enumerate(ENTRIES):
        with db.transaction() as session:
            audit.append(
                session,
                actor=actor,
                agency=agency,
                action="report.personal_read",
                subject_type="report",
                subject_id=subject_id,
                now=T0 + timedelta(hours=hour),
                reason="Sprawa policji" if agency == "police" else None,
                details={"who": actor},
            )


def seqs(db: Database, principal: Principal, *, all_agencies: bool = False, **f: Any) -> list[int]:
    rows = search(db, principal, AuditFilter(**f), NOW, all_agencies=all_agencies)
    return [r.seq for r in rows if r.action != "audit.searched"]


# -- search ---------------------------------------------------------------------------------------


def test_an_auditor_finds_only_their_own_agencys_entries(db: Database) -> None:
    fill(db)
    assert seqs(db, HOTLINE_AUDITOR) == HOTLINE
    assert seqs(db, HOTLINE_AUDITOR, agency="police") == []
    assert seqs(db, HOTLINE_AUDITOR, subject_id=SECRET) == []
    assert seqs(db, HOTLINE_AUDITOR, actor="piotr") == []


def test_an_oversight_auditor_finds_every_agencys_entries(db: Database) -> None:
    fill(db)
    assert seqs(db, HOTLINE_AUDITOR, all_agencies=True) == [8, 7, 6, 5, 4, 3, 2, 1]
    assert seqs(db, HOTLINE_AUDITOR, all_agencies=True, agency="police") == [8, 5, 4, 2]


def test_the_count_and_the_paging_reveal_nothing_of_another_agency(db: Database) -> None:
    fill(db)
    wanted = AuditFilter(limit=2)
    first = search(db, HOTLINE_AUDITOR, wanted, NOW)
    assert [r.seq for r in first] == [7, 3]  # full pages of the hotline's own, not of 8, 7
    cursor = next_before_seq(first, wanted)
    assert cursor == 3
    last = search(db, HOTLINE_AUDITOR, AuditFilter(limit=2, before_seq=cursor), NOW)
    assert [r.seq for r in last] == [1] and next_before_seq(last, wanted) is None
    # The searches record how many entries were shown: the hotline's only.
    rows = search(db, HOTLINE_AUDITOR, AuditFilter(action="audit.searched"), NOW)
    assert [json.loads(r.details)["returned"] for r in rows] == [1, 2]


# -- export ---------------------------------------------------------------------------------------


def agency_export(db: Database) -> dict[str, Any]:
    made = export_log(db, HOTLINE_AUDITOR, signing_key=KEY, now=NOW)
    assert verify_export(made.data, TRUSTED).ok
    doc: dict[str, Any] = json.loads(made.data)
    assert doc["agency"] == "hotline"
    return doc


def test_an_agency_export_shows_other_agencies_as_hashes_only_and_verifies(db: Database) -> None:
    fill(db)
    made = export_log(db, HOTLINE_AUDITOR, signing_key=KEY, now=NOW)
    doc = json.loads(made.data)
    assert doc["agency"] == "hotline"
    assert [e["seq"] for e in doc["entries"]] == list(range(1, 9))
    full = [e["seq"] for e in doc["entries"] if "actor" in e]
    assert full == [1, 3, 7]
    for entry in doc["entries"]:
        if entry["seq"] not in full:
            assert set(entry) == {"seq", "prev_hash", "entry_hash"}
    assert SECRET.encode() not in made.data and b"piotr" not in made.data
    assert b"Sprawa policji" not in made.data
    verdict = verify_export(made.data, TRUSTED)
    assert (verdict.ok, verdict.count, verdict.trusted) == (True, 8, True)


def test_an_oversight_export_holds_every_entry_in_full(db: Database) -> None:
    fill(db)
    made = export_log(db, HOTLINE_AUDITOR, signing_key=KEY, now=NOW, all_agencies=True)
    doc = json.loads(made.data)
    assert "agency" not in doc and all("actor" in e for e in doc["entries"])
    assert SECRET.encode() in made.data and verify_export(made.data, TRUSTED).ok


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (1, "entry_hash", "0" * 64),  # a hidden (police) entry's hash
        (1, "prev_hash", "1" * 64),  # a hidden entry's link
        (4, "entry_hash", "2" * 64),  # a hidden entry followed by another hidden one
        (2, "actor", "someone else"),  # a full (hotline) entry's content
        (6, "reason", "dopisane"),
    ],
)
def test_tampering_with_a_hidden_or_a_full_entry_breaks_an_agency_export(
    db: Database, index: int, field: str, value: str
) -> None:
    fill(db)
    doc = agency_export(db)
    hidden = "actor" not in doc["entries"][index]
    assert hidden == (field in ("entry_hash", "prev_hash"))
    doc["entries"][index][field] = value
    # Re-signed with the very key, so only the chain can tell.
    verdict = verify_export(encode(sign(doc, KEY)), TRUSTED)
    assert not verdict.ok


def test_an_agency_export_cannot_hide_or_show_what_its_scope_says_otherwise(db: Database) -> None:
    fill(db)
    doc = agency_export(db)
    full = dict(doc)
    del full["agency"]  # hashes only in an export that claims to be of every agency
    assert not verify_export(encode(sign(full, KEY)), TRUSTED).ok
    entries = make_full_entries(db)
    doc["entries"][1] = entries[1]  # a police entry in full in the hotline's export
    verdict = verify_export(encode(sign(doc, KEY)), TRUSTED)
    assert not verdict.ok and "another agency" in (verdict.problem or "")


def make_full_entries(db: Database) -> list[dict[str, Any]]:
    made = export_as(db, actor="t", agency=None, signing_key=KEY, now=NOW)
    entries: list[dict[str, Any]] = json.loads(made.data)["entries"]
    return entries


def test_the_command_line_verifies_an_agency_export(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db)
    doc = agency_export(db)
    path = tmp_path / "export.json"
    path.write_bytes(encode(doc))
    assert cli.main(["audit", "verify-export", str(path), "--public-key", TRUSTED]) == 0
    assert "audit export intact: 8 entries (entries 1 to 8)" in capsys.readouterr().out
    doc["entries"][3]["entry_hash"] = chain.GENESIS
    path.write_bytes(encode(sign(doc, KEY)))
    assert cli.main(["audit", "verify-export", str(path), "--public-key", TRUSTED]) == 1
    assert "entry 5 does not link to the entry before it" in capsys.readouterr().out


# -- through HTTP: the page, the API and the download ---------------------------------------------


@pytest.fixture
def hotline_auditor(client: TestClient) -> TestClient:
    ctx = context(client)
    fill(ctx.db)
    add_agencies(ctx)
    oversee(client, "ministry")
    user = add_staff(ctx, "hotline", Role.AUDITOR, "hanna")
    sign_in(client, user)
    return client


def test_the_api_and_the_page_show_a_hotline_auditor_the_hotlines_entries_only(
    hotline_auditor: TestClient,
) -> None:
    # First, before the auditor's own searches (which name what they looked for) are logged.
    page = hotline_auditor.get("/staff/audit")
    assert "TZ-AAAA-0004" in page.text and SECRET not in page.text and "piotr" not in page.text
    # (Adding the accounts wrote entries too: the filled ones are the reports read.)
    read = {"action": "report.personal_read", "limit": "2"}
    answer = hotline_auditor.get("/api/v1/audit/entries", params=read)
    assert answer.status_code == 200
    body = answer.json()
    assert [e["seq"] for e in body["entries"]] == [7, 3] and body["next_before_seq"] == 3
    police = hotline_auditor.get("/api/v1/audit/entries", params={"agency": "police"})
    assert police.json() == {"entries": [], "next_before_seq": None}
    page = hotline_auditor.get("/staff/audit", params={"actor": "piotr"})
    assert page.status_code == 200 and SECRET not in page.text


def test_the_downloaded_export_of_a_hotline_auditor_hides_the_police(
    hotline_auditor: TestClient,
) -> None:
    key = public_key_b64(context(hotline_auditor).services.get(Keys).audit_signing_key)
    for url in ("/api/v1/audit/export", "/staff/audit/export"):
        download = hotline_auditor.get(url)
        assert download.status_code == 200
        assert SECRET.encode() not in download.content and b"piotr" not in download.content
        assert json.loads(download.content)["agency"] == "hotline"
        assert verify_export(download.content, key).ok


def test_an_oversight_auditor_sees_every_agency_through_http(client: TestClient) -> None:
    ctx = context(client)
    fill(ctx.db)
    add_agencies(ctx)
    oversee(client, "ministry")
    sign_in(client, add_staff(ctx, "ministry", Role.AUDITOR, "olga"))
    police = client.get("/api/v1/audit/entries", params={"agency": "police"})
    assert [e["seq"] for e in police.json()["entries"]] == [8, 5, 4, 2]
    assert SECRET in client.get("/staff/audit").text
    download = client.get("/api/v1/audit/export")
    assert SECRET.encode() in download.content and "agency" not in json.loads(download.content)


def test_the_oversight_setting_reaches_the_reader(settings: Settings, db: Database) -> None:
    """TARCZA_OVERSIGHT_AGENCIES, through the composition root, decides who reads every agency."""
    from tarcza.oversight.service import AuditLogReader
    from tests.support.app import make_application

    ministry = Principal(1, "ewa", "ministry", AgencyKind.COORDINATOR, Role.AUDITOR, True)
    hotline = Principal(2, "hania", "hotline", AgencyKind.HOTLINE, Role.AUDITOR, True)
    wired = make_application(settings.model_copy(update={"oversight_agencies": ["ministry"]}), db)
    default = make_application(settings, db)
    try:
        reader = wired.services.get(AuditLogReader)
        assert reader.sees_all(ministry) and not reader.sees_all(hotline)
        assert not default.services.get(AuditLogReader).sees_all(ministry)
    finally:
        wired.close()
        default.close()
