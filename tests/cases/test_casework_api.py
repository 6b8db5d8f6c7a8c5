"""Two agencies on one system, through the staff API: each sees exactly what the rules allow.

A report arrives at the hotline; the hotline's analyst works it and refers it to the
police; the police officer sees it only once referred, accepts it, and the public
status says "forwarded". Every read of personal data and every change is audited.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit.models import AuditEntry
from tests.support.staff import StaffUser, add_agencies, add_staff, context, sign_in

STAFF = "/api/v1/staff"


def synthetic_png(colour: tuple[int, int, int] = (20, 140, 220)) -> bytes:
    img = Image.new("RGB", (64, 48), colour)
    img.paste((250, 250, 20), (8, 8, 40, 30))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def submit(client: TestClient, *, danger: bool = False, image: bool = True) -> dict[str, str]:
    body = {
        "category": "sextortion",
        "description": "Invented text: someone asks for more photos.",
        "urls": ["https://example.com/u/someone"],
        "child_in_danger": danger,
        "usernames": ["someone123"],
        "contact": {"email": "parent@example.com"},
        "language": "pl",
    }
    files = [("files", ("a.png", synthetic_png(), "image/png"))] if image else []
    response = (
        client.post("/api/v1/reports", data={"report": json.dumps(body)}, files=files or None)
        if image
        else client.post("/api/v1/reports", json=body)
    )
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


class Desk:
    """One person's own HTTP client (own cookie jar) on the shared app."""

    def __init__(self, client: TestClient, user: StaffUser) -> None:
        self.client = TestClient(client.app, base_url="http://127.0.0.1")
        self.user = user
        self.csrf = sign_in(self.client, user)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, json: Any = None) -> Any:
        return self.client.post(path, json=json, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx)
    return {
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "analyst2": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "bartek")),
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "counsellor": Desk(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia")),
        "coordinator": Desk(client, add_staff(ctx, "ministry", Role.COORDINATOR, "ola")),
    }


def audit_actions(client: TestClient, reference: str) -> list[tuple[str, str]]:
    with context(client).db.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.subject_id == reference).order_by(AuditEntry.seq)
        )
        return [(row.actor, row.action) for row in rows]


def test_a_report_is_in_the_hotline_queue_only(client: TestClient, desks: dict[str, Desk]) -> None:
    ref = submit(client)["reference"]
    assert [i["reference"] for i in desks["analyst"].get(f"{STAFF}/reports").json()] == [ref]
    assert desks["officer"].get(f"{STAFF}/reports").json() == []
    assert desks["officer"].get(f"{STAFF}/reports/{ref}").status_code == 404
    assert desks["counsellor"].get(f"{STAFF}/reports/{ref}").status_code == 404
    # The coordinator holds no report permission at all.
    assert desks["coordinator"].get(f"{STAFF}/reports").status_code == 403


def test_queue_puts_a_child_in_danger_first(client: TestClient, desks: dict[str, Desk]) -> None:
    calm = submit(client, image=False)["reference"]
    urgent = submit(client, danger=True, image=False)["reference"]
    queue = desks["analyst"].get(f"{STAFF}/reports").json()
    assert [i["reference"] for i in queue] == [urgent, calm]
    assert queue[0]["child_in_danger"] is True


def test_reading_a_report_is_audited_and_shows_the_personal_data(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client)["reference"]
    report = desks["analyst"].get(f"{STAFF}/reports/{ref}").json()
    assert report["description"].startswith("Invented text")
    assert report["contact"]["email"] == "parent@example.com"
    assert report["evidence"][0]["sha256"]
    assert ("anna", "report.personal_read") in audit_actions(client, ref)


def test_referral_to_police_accepted_there_forwards_the_report(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    created = submit(client)
    ref = created["reference"]
    analyst, officer = desks["analyst"], desks["officer"]
    assert (
        analyst.post(
            f"{STAFF}/reports/{ref}/status", {"status": "in_assessment", "reason": "Looking"}
        ).status_code
        == 200
    )
    referral = analyst.post(
        f"{STAFF}/reports/{ref}/referrals", {"to_agency": "police", "reason": "Threats to a child"}
    )
    assert referral.status_code == 201, referral.text
    referral_id = referral.json()["id"]

    seen = officer.get(f"{STAFF}/reports/{ref}").json()
    # Asked, not yet answered: the summary to decide on (tests/cases/test_referral_chain.py).
    assert seen["relation"] == "referred_pending"
    assert seen["description"] is None
    assert seen["referrals"][0]["state"] == "pending"
    assert [i["referral_pending"] for i in officer.get(f"{STAFF}/reports").json()] == [True]
    # The counsellor's agency was not asked: still nothing.
    assert desks["counsellor"].get(f"{STAFF}/reports/{ref}").status_code == 404
    # Only the receiving agency answers.
    assert (
        analyst.post(
            f"{STAFF}/referrals/{referral_id}/answer", {"accept": True, "reason": "x"}
        ).status_code
        == 403
    )
    answered = officer.post(
        f"{STAFF}/referrals/{referral_id}/answer", {"accept": True, "reason": "We take it"}
    )
    assert answered.status_code == 204, answered.text
    # Accepted: now the police works it, personal data included (and the read is audited).
    taken = officer.get(f"{STAFF}/reports/{ref}").json()
    assert (taken["relation"], taken["description"] is not None) == ("referred", True)
    after = analyst.get(f"{STAFF}/reports/{ref}").json()
    assert after["status"] == "forwarded"
    assert after["referrals"][0]["answer"] == "We take it"
    # The public status follows, in plain words and nothing more.
    status = client.get(
        f"/api/v1/reports/{ref}/status", headers={"X-Report-PIN": created["pin"]}
    ).json()
    assert (status["status"], status["stage"]) == ("forwarded", "passed_to_police")
    # "the police" and nothing more: not the answer, not who answered.
    assert "We take it" not in str(status) and "piotr" not in str(status)
    actions = audit_actions(client, ref)
    assert ("anna", "report.referred") in actions
    assert ("piotr", "referral.answered") in actions
    assert ("piotr", "report.personal_read") in actions


def test_a_declined_referral_ends_the_access(client: TestClient, desks: dict[str, Desk]) -> None:
    ref = submit(client)["reference"]
    rid = (
        desks["analyst"]
        .post(f"{STAFF}/reports/{ref}/referrals", {"to_agency": "police", "reason": "Please look"})
        .json()["id"]
    )
    assert (
        desks["officer"]
        .post(f"{STAFF}/referrals/{rid}/answer", {"accept": False, "reason": "Not ours"})
        .status_code
        == 204
    )
    assert desks["officer"].get(f"{STAFF}/reports/{ref}").status_code == 404
    assert desks["analyst"].get(f"{STAFF}/reports/{ref}").json()["referrals"][0]["state"] == (
        "declined"
    )


def test_status_changes_need_a_reason_and_follow_the_workflow(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client, image=False)["reference"]
    analyst = desks["analyst"]
    blank = analyst.post(f"{STAFF}/reports/{ref}/status", {"status": "closed", "reason": " "})
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["loc"] == ["body", "reason"]
    jump = analyst.post(f"{STAFF}/reports/{ref}/status", {"status": "forwarded", "reason": "x"})
    assert jump.status_code == 422
    assert jump.json()["detail"][0]["type"] == "not_allowed"


def test_assignment_to_a_colleague_and_the_mine_filter(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client, image=False)["reference"]
    analyst = desks["analyst"]
    assert (
        analyst.post(f"{STAFF}/reports/{ref}/assignment", {"assignee": "bartek"}).status_code == 204
    )
    assert analyst.get(f"{STAFF}/reports", params={"mine": True}).json() == []
    mine = desks["analyst2"].get(f"{STAFF}/reports", params={"mine": True}).json()
    assert [i["assignee"] for i in mine] == ["bartek"]
    # Not someone of another agency.
    other = analyst.post(f"{STAFF}/reports/{ref}/assignment", {"assignee": "piotr"})
    assert other.status_code == 422


def test_changes_without_the_csrf_token_are_refused(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client, image=False)["reference"]
    response = desks["analyst"].client.post(
        f"{STAFF}/reports/{ref}/status", json={"status": "closed", "reason": "x"}
    )
    assert response.status_code == 403


def test_evidence_preview_is_blurred_greyscale_and_reveal_needs_a_reason(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client)["reference"]
    analyst = desks["analyst"]
    evidence = analyst.get(f"{STAFF}/reports/{ref}").json()["evidence"][0]
    preview = analyst.get(evidence["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(preview.content))
    assert img.mode == "L"
    assert (
        analyst.post(f"{STAFF}/evidence/{evidence['id']}/reveal", {"reason": ""}).status_code == 422
    )
    granted = analyst.post(
        f"{STAFF}/evidence/{evidence['id']}/reveal", {"reason": "Classify the image"}
    )
    assert granted.status_code == 200
    full = analyst.get(granted.json()["image_url"])
    assert full.status_code == 200
    assert Image.open(io.BytesIO(full.content)).mode == "RGB"
    # The grant is personal: another analyst cannot use the address.
    assert desks["analyst2"].get(granted.json()["image_url"]).status_code == 403
    # A counsellor may not reveal at all; the police does not see the report.
    assert desks["officer"].get(evidence["preview_url"]).status_code == 404
    actions = audit_actions(client, ref)
    assert ("anna", "evidence.preview_viewed") in actions
    assert ("anna", "evidence.revealed") in actions
    with context(client).db.sessions() as session:
        row = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "evidence.revealed")
        ).one()
        assert row.reason == "Classify the image"


def test_the_coordinator_sees_figures_only(client: TestClient, desks: dict[str, Desk]) -> None:
    submit(client, image=False)
    # The coordinator's figures are the national ones, suppressed (coordination): this
    # unsuppressed count is closed to the coordinator and points there.
    closed = desks["coordinator"].get(f"{STAFF}/stats")
    assert closed.status_code == 403 and "/api/v1/stats/national" in closed.text
    assert desks["coordinator"].get("/api/v1/stats/national").status_code == 200
    assert desks["analyst"].get(f"{STAFF}/stats").status_code == 403


def test_signed_out_api_calls_get_401(client: TestClient) -> None:
    assert client.get(f"{STAFF}/reports").status_code == 401


def test_malformed_references_are_refused_before_any_query(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    assert desks["analyst"].get(f"{STAFF}/reports/TZ-%00AB-CDEF").status_code == 422
    assert desks["analyst"].get(f"{STAFF}/evidence/99999999999999999999/preview").status_code == 422


def test_a_supervisor_counts_only_what_the_agency_sees(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ctx = context(client)
    submit(client, image=False)  # the hotline's
    police_boss = Desk(client, add_staff(ctx, "police", Role.SUPERVISOR, "szef"))
    assert police_boss.get(f"{STAFF}/stats").json()["status"] == {}
