"""The report's side (issue 12): the reporter adds information with the reference and PIN; the
staff send a question shown on the status page; both sealed and audited. Both databases."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit.models import AuditEntry
from tarcza.intake.models import Evidence, ReportMessage
from tests.support.staff import add_agencies, add_staff, context, sign_in

REPORTS = "/api/v1/reports"


def _report(client: TestClient) -> tuple[str, str]:
    made = client.post(REPORTS, json={"category": "sextortion", "description": "threats (test)"})
    assert made.status_code == 201
    return made.json()["reference"], made.json()["pin"]


def _png() -> bytes:
    img = Image.new("RGB", (160, 120), (20, 120, 200))
    ImageDraw.Draw(img).rectangle((30, 20, 120, 90), fill=(240, 200, 40))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_the_reporter_adds_a_message_and_links(client: TestClient) -> None:
    reference, pin = _report(client)
    added = client.post(
        f"{REPORTS}/{reference}/information",
        json={"message": "He wrote again today.", "urls": ["https://example.com/p/1"]},
        headers={"X-Report-PIN": pin},
    )
    assert added.status_code == 204
    ctx = context(client)
    with ctx.db.sessions() as session:
        (row,) = session.scalars(select(ReportMessage)).all()
        assert row.sender == "reporter" and row.urls == ["https://example.com/p/1"]
        assert b"He wrote again" not in (row.body_sealed or b"")  # sealed
        assert session.scalar(
            select(AuditEntry.action).where(AuditEntry.action == "report.information_added")
        )


def test_adding_needs_the_pin_and_something(client: TestClient) -> None:
    reference, pin = _report(client)
    wrong = "000000" if pin != "000000" else "111111"
    body = {"message": "x"}
    no = client.post(
        f"{REPORTS}/{reference}/information", json=body, headers={"X-Report-PIN": wrong}
    )
    assert no.status_code == 404
    empty = client.post(
        f"{REPORTS}/{reference}/information", json={}, headers={"X-Report-PIN": pin}
    )
    assert empty.status_code == 422 and empty.json()["detail"][0]["type"] == "nothing_added"
    bad = client.post(
        f"{REPORTS}/{reference}/information",
        json={"urls": ["javascript:alert(1)"]},
        headers={"X-Report-PIN": pin},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "urls", 0]


def test_the_form_adds_a_picture_and_the_staff_question_shows(client: TestClient) -> None:
    reference, pin = _report(client)
    page = client.post(
        "/status/add",
        data={"reference": reference, "pin": pin, "message": "Another screenshot"},
        files={"files": ("shot.png", _png(), "image/png")},
    )
    assert page.status_code == 200 and 'id="added"' in page.text
    assert page.headers["cache-control"] == "no-store"
    ctx = context(client)
    with ctx.db.sessions() as session:
        assert len(session.scalars(select(Evidence)).all()) == 1
    add_agencies(ctx)
    analyst = add_staff(ctx, "hotline", Role.ANALYST)
    csrf = sign_in(client, analyst)
    staff_page = client.get(f"/staff/reports/{reference}")
    assert "Another screenshot" in staff_page.text
    sent = client.post(
        f"/staff/reports/{reference}/message",
        data={"csrf": csrf, "text": "Czy pamiętasz nazwę konta?"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    client.cookies.clear()
    status = client.get(f"{REPORTS}/{reference}/status", headers={"X-Report-PIN": pin}).json()
    assert [m["text"] for m in status["messages"]] == ["Czy pamiętasz nazwę konta?"]
    public = client.post("/status", data={"reference": reference, "pin": pin})
    assert "Czy pamiętasz nazwę konta?" in public.text
    assert analyst.username not in public.text  # the reporter sees no name


def test_an_agency_without_the_report_cannot_message(client: TestClient) -> None:
    reference, _ = _report(client)
    ctx = context(client)
    add_agencies(ctx)
    counsellor = add_staff(ctx, "helpline", Role.COUNSELLOR)
    csrf = sign_in(client, counsellor)
    answer = client.post(
        f"/staff/reports/{reference}/message",
        data={"csrf": csrf, "text": "hello"},
        follow_redirects=False,
    )
    assert answer.status_code in (403, 404)
    assert re.search(r"report\.message_sent", answer.text) is None
