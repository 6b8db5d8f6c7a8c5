"""Referrals give no more than they should, and end when they end (issue 11, defects 4 and 5).

Through the staff API on both databases: an agency asked to take a report reads the summary
it decides on and nothing more until it accepts; only the owning agency refers a report; and
when a referral is declined or withdrawn, every referral made from it ends in the same
transaction, so the agencies further down the chain lose the report too (404).

The onward referrals of the chain tests are written as rows, the way the system held them
before onward referrals were refused (they can no longer be made through the API).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit.models import AuditEntry
from tarcza.cases.models import Referral
from tarcza.cases.referrals import open_referral
from tarcza.intake.models import Report
from tarcza.store.base import utcnow
from tests.accounts.test_access_http import evidence_of
from tests.cases.test_casework_api import Desk, submit
from tests.support.staff import add_agencies, add_staff, context

pytestmark = pytest.mark.abuse

STAFF = "/api/v1/staff"
ONWARD = "Only the agency that owns the report refers it"
HOTLINE = Principal(0, "setup-hotline", "hotline", AgencyKind.HOTLINE, Role.ANALYST, True)


class Scene:
    """The agencies, one person at each (its own HTTP client), and one hotline report."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ctx = context(client)
        add_agencies(self.ctx)
        # A second police force: the third agency of a three-link chain.
        self.ctx.accounts.add_agency("police-2", "Police 2", AgencyKind.POLICE)
        self.analyst = Desk(client, add_staff(self.ctx, "hotline", Role.ANALYST, "anna"))
        self.officer = Desk(client, add_staff(self.ctx, "police", Role.OFFICER, "piotr"))
        self.counsellor = Desk(client, add_staff(self.ctx, "helpline", Role.COUNSELLOR, "kasia"))
        self.officer2 = Desk(client, add_staff(self.ctx, "police-2", Role.OFFICER, "pawel"))
        self.created = submit(client)
        self.ref = self.created["reference"]
        self.evidence = evidence_of(client, self.ref)

    def refer(self, desk: Desk, to: str) -> Any:
        return desk.post(f"{STAFF}/reports/{self.ref}/referrals", {"to_agency": to, "reason": "x"})

    def answer(self, desk: Desk, referral: int, accept: bool) -> None:
        got = desk.post(f"{STAFF}/referrals/{referral}/answer", {"accept": accept, "reason": "y"})
        assert got.status_code == 204, got.text

    def legacy_onward(self, from_agency: str, to_agency: str) -> int:
        """An onward referral row as one made before they were refused."""
        with self.ctx.db.transaction() as session:
            report_id = session.scalars(select(Report.id).where(Report.reference == self.ref)).one()
            made = open_referral(
                session,
                self.ctx.keyring,
                report_id=report_id,
                reference=self.ref,
                from_agency=from_agency,
                to_agency=to_agency,
                reason="Passed on before the fix",
                actor=f"someone@{from_agency}",
                now=utcnow(),
            )
        assert made is not None
        return made

    def reads(self, desk: Desk) -> dict[str, int]:
        """What ``desk`` gets for the report, its preview and the queue (status codes)."""
        queue = desk.get(f"{STAFF}/reports").json()
        return {
            "report": desk.get(f"{STAFF}/reports/{self.ref}").status_code,
            "preview": desk.get(f"{STAFF}/evidence/{self.evidence}/preview").status_code,
            "queue": sum(1 for i in queue if i["reference"] == self.ref),
        }

    def state(self, referral: int) -> str:
        with self.ctx.db.sessions() as session:
            row = session.get(Referral, referral)
            assert row is not None
            return row.state

    def audited(self, action: str) -> list[dict[str, Any]]:
        with self.ctx.db.sessions() as session:
            rows = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_id == self.ref, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
            return [json.loads(r.details) for r in rows]


GONE = {"report": 404, "preview": 404, "queue": 0}
WORKS = {"report": 200, "preview": 200, "queue": 1}
DECIDING = {"report": 200, "preview": 403, "queue": 1}


def test_a_pending_referral_gives_the_summary_and_nothing_more(client: TestClient) -> None:
    s = Scene(client)
    rid = s.refer(s.analyst, "police").json()["id"]
    officer = s.officer

    seen = officer.get(f"{STAFF}/reports/{s.ref}").json()
    assert seen["relation"] == "referred_pending"
    # (and a child-in-danger alert, were there one: a duty desk acknowledges before deciding)
    assert seen["allowed"] == [
        "alert:danger:acknowledge",
        "alert:danger:read",
        "referral:answer:decide",
        "report:summary:read",
    ]
    # What it decides on: the category, the dates and its own referral with the reason.
    assert seen["category"] == "sextortion" and seen["created_at"]
    assert [(r["to_agency"], r["reason"]) for r in seen["referrals"]] == [("police", "x")]
    # No personal data, no URLs, no evidence rows, no history.
    assert (seen["description"], seen["usernames"], seen["contact"]) == (None, None, None)
    assert (seen["urls"], seen["evidence"], seen["items"], seen["history"]) == ([], [], [], [])
    assert "Invented text" not in str(seen) and "someone123" not in str(seen)
    # The counts are there for the page (the service's view).
    view = s.ctx.cases.report(
        Principal(0, "x", "police", AgencyKind.POLICE, Role.OFFICER, True), s.ref
    )
    assert (view.evidence_count, view.description) == (1, None)
    queued = officer.get(f"{STAFF}/reports").json()
    assert [(i["relation"], i["referral_pending"]) for i in queued] == [("referred_pending", True)]

    # Each action of casework is refused until it accepts.
    refused = {
        "status": officer.post(
            f"{STAFF}/reports/{s.ref}/status", {"status": "closed", "reason": "Done"}
        ),
        "assign": officer.post(f"{STAFF}/reports/{s.ref}/assignment", {"assignee": "piotr"}),
        "preview": officer.get(f"{STAFF}/evidence/{s.evidence}/preview"),
        "reveal": officer.post(f"{STAFF}/evidence/{s.evidence}/reveal", {"reason": "Look"}),
        "refer": s.refer(officer, "helpline"),
    }
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 403)
    assert ONWARD in refused["refer"].json()["detail"]
    # Nothing changed: the status, what the reporter reads, the assignment, the referrals.
    owner_view = s.analyst.get(f"{STAFF}/reports/{s.ref}").json()
    assert owner_view["status"] == "received"
    assert [r["to_agency"] for r in owner_view["referrals"]] == ["police"]
    public = client.get(
        f"/api/v1/reports/{s.ref}/status", headers={"X-Report-PIN": s.created["pin"]}
    ).json()
    assert public["status"] == "received"
    assert s.audited("report.personal_read") == [{}]  # the analyst's read only
    assert s.reads(s.counsellor) == GONE

    # The page shows no form of casework and no personal data.
    page = officer.get(f"/staff/reports/{s.ref}")
    assert page.status_code == 200
    for form in ("status", "assign", "refer"):
        assert f'action="/staff/reports/{s.ref}/{form}"' not in page.text
    assert "Invented text" not in page.text
    assert f'action="/staff/referrals/{rid}/answer"' in page.text

    # Once it accepts, it works the report.
    s.answer(officer, rid, True)
    accepted = officer.get(f"{STAFF}/reports/{s.ref}").json()
    assert accepted["relation"] == "referred"
    assert accepted["description"].startswith("Invented text")
    assert s.reads(officer) == WORKS


def test_a_receiving_agency_cannot_refer_the_report_on(client: TestClient) -> None:
    s = Scene(client)
    rid = s.refer(s.analyst, "police").json()["id"]
    assert s.refer(s.officer, "helpline").status_code == 403  # pending
    s.answer(s.officer, rid, True)
    onward = s.refer(s.officer, "helpline")  # accepted
    assert onward.status_code == 403
    assert ONWARD in onward.json()["detail"]
    assert s.reads(s.counsellor) == GONE
    # The owner still refers it wherever it needs.
    assert s.refer(s.analyst, "helpline").status_code == 201
    assert s.reads(s.counsellor) == DECIDING


def test_a_decline_ends_every_referral_made_from_it(client: TestClient) -> None:
    s = Scene(client)
    rid = s.refer(s.analyst, "police").json()["id"]
    onward = s.legacy_onward("police", "helpline")  # made while the police was deciding
    further = s.legacy_onward("helpline", "police-2")
    s.answer(s.counsellor, onward, True)
    s.answer(s.officer2, further, True)
    assert s.reads(s.counsellor) == WORKS
    assert s.reads(s.officer2) == WORKS

    s.answer(s.officer, rid, False)  # the police declines: nothing it passed on survives

    assert s.reads(s.officer) == GONE
    assert s.reads(s.counsellor) == GONE
    assert s.reads(s.officer2) == GONE
    assert [s.state(r) for r in (rid, onward, further)] == ["declined", "withdrawn", "withdrawn"]
    ended = s.audited("referral.withdrawn")
    assert [(e["referral"], e["to"], e["ended_with"]) for e in ended] == [
        (onward, "helpline", rid),
        (further, "police-2", rid),
    ]
    # The owner keeps the report and sees how each referral ended.
    states = [r["state"] for r in s.analyst.get(f"{STAFF}/reports/{s.ref}").json()["referrals"]]
    assert states == ["declined", "withdrawn", "withdrawn"]
    assert s.analyst.get(f"/staff/reports/{s.ref}").status_code == 200


def test_a_withdrawal_ends_every_referral_made_from_it(client: TestClient) -> None:
    s = Scene(client)
    rid = s.refer(s.analyst, "police").json()["id"]
    s.answer(s.officer, rid, True)
    onward = s.legacy_onward("police", "helpline")
    assert s.reads(s.counsellor) == DECIDING  # pending onward: the summary only
    s.answer(s.counsellor, onward, True)
    assert s.reads(s.counsellor) == WORKS
    direct = s.refer(s.analyst, "police-2").json()["id"]  # the owner's own: not derived

    s.ctx.cases.withdraw(HOTLINE, rid, "Sent to the wrong force")

    assert s.reads(s.officer) == GONE
    assert s.reads(s.counsellor) == GONE
    assert s.reads(s.officer2) == DECIDING
    assert [s.state(r) for r in (rid, onward, direct)] == ["withdrawn", "withdrawn", "pending"]
    ended = s.audited("referral.withdrawn")
    assert [e["referral"] for e in ended] == [rid, onward]
    assert ended[0]["was"] == "accepted" and ended[1]["ended_with"] == rid


def test_the_owner_withdraws_a_referral_through_the_api(client: TestClient) -> None:
    s = Scene(client)
    rid = s.refer(s.analyst, "police").json()["id"]
    s.answer(s.officer, rid, True)
    assert s.reads(s.officer) == WORKS

    # The receiving agency cannot withdraw it, and a withdrawal needs a reason.
    refused = s.officer.post(f"{STAFF}/referrals/{rid}/withdraw", {"reason": "mine now"})
    assert refused.status_code in (403, 404)
    no_reason = s.analyst.post(f"{STAFF}/referrals/{rid}/withdraw", {"reason": ""})
    assert no_reason.status_code == 422

    done = s.analyst.post(f"{STAFF}/referrals/{rid}/withdraw", {"reason": "Sent in error"})
    assert done.status_code == 204
    assert s.reads(s.officer) == GONE
    assert s.state(rid) == "withdrawn"
    again = s.analyst.post(f"{STAFF}/referrals/{rid}/withdraw", {"reason": "twice"})
    assert again.status_code == 422
