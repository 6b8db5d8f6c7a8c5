"""A child in danger now, through HTTP, on SQLite and PostgreSQL (issue 13).

A danger report is referred to the police duty desk at once (links or not), the first duty
contact gets an e-mail at a real SMTP server (the reference and a link, never the content),
an unacknowledged alert escalates to the next contact, the duty desk acknowledges it, and the
hotline and the helpline see the same state. Other agencies see nothing; failures are retried
then marked failed; the optional webhook is signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.alerts.models import AlertNotification
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tests.support.app import make_app
from tests.support.server import free_port
from tests.support.smtp import CapturingSmtp
from tests.support.staff import StaffUser, add_agencies, add_staff, sign_in

STAFF = "/api/v1/staff"
DESK_A, DESK_B = "dyzur-a@policja.test", "dyzur-b@policja.test"
SECRET_TEXT = "Invented: he says he will come to the school today at 3."


class Desk:
    def __init__(self, app: Any, user: StaffUser) -> None:
        self.client = TestClient(app, base_url="http://127.0.0.1")
        self.csrf = sign_in(self.client, user)

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, json: Any = None) -> Any:
        return self.client.post(path, json=json, headers={"X-CSRF-Token": self.csrf})


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.received = []
    server = HTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/duty"
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def _app(settings: Settings, db: Database, smtp_port: int, **extra: Any) -> Any:
    configured = settings.model_copy(
        update={
            "mail": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "duty_contacts": [DESK_A, DESK_B],
            "duty_escalate_minutes": 5.0,
            "staff_url": "https://tarcza.example",
            **extra,
        }
    )
    return make_app(configured, db)


@pytest.fixture
def world(settings: Settings, db: Database, smtp: CapturingSmtp) -> dict[str, Any]:
    return _world(_app(settings, db, smtp.port))


def _world(app: Any) -> dict[str, Any]:
    ctx = app.state.application
    add_agencies(ctx)
    ctx.accounts.add_agency("police-2", "Another police unit", AgencyKind.POLICE)
    return {
        "app": app,
        "ctx": ctx,
        "officer": Desk(app, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "analyst": Desk(app, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "counsellor": Desk(app, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia")),
        "other_police": Desk(app, add_staff(ctx, "police-2", Role.OFFICER, "obcy")),
        "public": TestClient(app, base_url="http://127.0.0.1"),
    }


def report(public: TestClient, *, danger: bool = True, urls: list[str] | None = None) -> str:
    body = {
        "category": "grooming",
        "description": SECRET_TEXT,
        "urls": urls or [],
        "child_in_danger": danger,
        "language": "pl",
    }
    answer = public.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["reference"])


def actions_of(ctx: Any, reference: str) -> list[str]:
    with ctx.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject_id == reference, AuditEntry.action.like("alert.%"))
                .order_by(AuditEntry.seq)
            )
        )


def test_a_danger_report_without_links_reaches_the_duty_desk_mail(
    world: dict[str, Any], smtp: CapturingSmtp
) -> None:
    ctx, officer = world["ctx"], world["officer"]
    reference = report(world["public"])
    # Referred at once: the police duty desk has it in its inbox, to answer.
    inbox = officer.get(f"{STAFF}/reports").json()
    assert [(i["reference"], i["referral_pending"]) for i in inbox] == [(reference, True)]
    status = world["public"].get(
        f"/api/v1/reports/{reference}/status", headers={"X-Report-PIN": "0"}
    )
    assert status.status_code in (401, 403, 404, 422)  # (the PIN is the reporter's)

    assert ctx.alerts.deliver_due() == 1
    [mail] = smtp.wait_for(1)
    assert mail["To"] == DESK_A
    assert reference in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert f"https://tarcza.example/staff/reports/{reference}" in text
    assert SECRET_TEXT not in text and "school" not in text  # never the content
    assert ctx.alerts.deliver_due() == 0  # sent once
    assert actions_of(ctx, reference) == ["alert.raised", "alert.notified"]

    [alert] = officer.get(f"{STAFF}/alerts").json()
    assert alert["reference"] == reference and alert["state"] == "open"
    assert alert["may_acknowledge"] is True
    assert [(n["level"], n["recipient"], n["status"]) for n in alert["notifications"]] == [
        (1, DESK_A, "sent")
    ]


def test_unacknowledged_it_escalates_acknowledged_it_stops_and_all_see_one_state(
    world: dict[str, Any], smtp: CapturingSmtp
) -> None:
    ctx, officer, analyst = world["ctx"], world["officer"], world["analyst"]
    reference = report(world["public"])
    ctx.alerts.deliver_due()
    now = utcnow()
    assert ctx.alerts.escalate_due(now + timedelta(minutes=4)) == 0  # not yet
    assert ctx.alerts.escalate_due(now + timedelta(minutes=6)) == 1
    ctx.alerts.deliver_due()
    second = smtp.wait_for(2)[1]
    assert second["To"] == DESK_B and reference in second["Subject"]
    assert "poziom 2" in second.get_body(preferencelist=("plain",)).get_content()
    # The last contact was told: no further level.
    assert ctx.alerts.escalate_due(now + timedelta(hours=2)) == 0

    # The hotline sees it waiting, and may not acknowledge for the police.
    [seen] = analyst.get(f"{STAFF}/alerts").json()
    assert seen["state"] == "open" and seen["level"] == 2 and seen["may_acknowledge"] is False
    assert analyst.post(f"{STAFF}/alerts/{seen['id']}/acknowledge").status_code == 403

    done = officer.post(f"{STAFF}/alerts/{seen['id']}/acknowledge")
    assert done.status_code == 200, done.text
    acknowledged = done.json()
    assert acknowledged["state"] == "acknowledged" and acknowledged["acknowledged_by"] == "piotr"
    again = officer.post(f"{STAFF}/alerts/{seen['id']}/acknowledge").json()
    assert again["acknowledged_at"] == acknowledged["acknowledged_at"]  # idempotent

    [hotline_view] = analyst.get(f"{STAFF}/alerts").json()
    assert hotline_view["state"] == "acknowledged"
    assert hotline_view["acknowledged_by"] == "piotr"
    assert hotline_view["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert actions_of(ctx, reference) == [
        "alert.raised",
        "alert.notified",
        "alert.escalated",
        "alert.notified",
        "alert.acknowledged",
    ]
    # The report's page says who has it, for the hotline as for the police.
    page = analyst.get(f"/staff/reports/{reference}").text
    assert 'id="danger-alert"' in page and "piotr" in page


def test_acknowledged_before_the_mail_went_nothing_more_is_sent(
    world: dict[str, Any], smtp: CapturingSmtp
) -> None:
    ctx, officer = world["ctx"], world["officer"]
    report(world["public"])
    [alert] = officer.get(f"{STAFF}/alerts").json()
    assert officer.post(f"{STAFF}/alerts/{alert['id']}/acknowledge").status_code == 200
    assert ctx.alerts.deliver_due() == 0
    assert ctx.alerts.escalate_due(utcnow() + timedelta(hours=1)) == 0
    assert smtp.messages == []
    [after] = officer.get(f"{STAFF}/alerts").json()
    assert [n["status"] for n in after["notifications"]] == ["cancelled"]


def test_no_danger_no_alert_and_other_agencies_see_nothing(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    report(world["public"], danger=False)
    assert world["officer"].get(f"{STAFF}/reports").json() == []
    assert world["officer"].get(f"{STAFF}/alerts").json() == []
    report(world["public"])
    [alert] = world["officer"].get(f"{STAFF}/alerts").json()
    other = world["other_police"]
    assert other.get(f"{STAFF}/alerts").json() == []
    assert other.post(f"{STAFF}/alerts/{alert['id']}/acknowledge").status_code == 404
    assert world["officer"].post(f"{STAFF}/alerts/999999/acknowledge").status_code == 404
    assert ctx.alerts.deliver_due() == 1


def test_a_failing_mail_server_is_retried_then_failed_and_the_page_says_so(
    settings: Settings, db: Database
) -> None:
    closed = free_port()  # nothing listens there
    world = _world(_app(settings, db, closed, duty_max_tries=2, duty_retry_seconds=30.0))
    ctx = world["ctx"]
    reference = report(world["public"])
    now = utcnow()
    assert ctx.alerts.deliver_due(now) == 1
    assert ctx.alerts.deliver_due(now + timedelta(seconds=5)) == 0  # waits for its retry
    assert ctx.alerts.deliver_due(now + timedelta(seconds=31)) == 1
    with ctx.db.sessions() as session:
        row = session.scalars(select(AlertNotification)).one()
        assert (row.status, row.tries) == ("failed", 2)
        assert "refused" in (row.detail or "")
    assert actions_of(ctx, reference) == [
        "alert.raised",
        "alert.notify_deferred",
        "alert.notify_failed",
    ]
    page = world["officer"].get(f"/staff/reports/{reference}").text
    assert "zadzwoń do dyżuru" in page or "call the duty desk" in page


def test_the_webhook_is_told_too_signed_with_the_secret(
    settings: Settings, db: Database, smtp: CapturingSmtp, hook: str
) -> None:
    app = _app(settings, db, smtp.port, duty_webhook_url=hook, duty_webhook_secret="s3cret")
    world = _world(app)
    reference = report(world["public"])
    assert world["ctx"].alerts.deliver_due() == 2
    [(headers, body)] = Hook.received
    facts = json.loads(body)
    assert facts["reference"] == reference and facts["level"] == 1
    assert SECRET_TEXT not in body.decode()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Tarcza-Signature"] == f"sha256={expected}"


def test_a_helpline_danger_contact_alerts_the_desk_and_the_helpline_follows_it(
    world: dict[str, Any],
) -> None:
    counsellor, officer = world["counsellor"], world["officer"]
    contact = counsellor.post(
        "/api/v1/helpline/contacts",
        {
            "channel": "chat",
            "caller": "child",
            "age_band": "13_15",
            "topics": ["sextortion"],
            "risk": "immediate",
            "summary": "Invented: the child says the man is outside now.",
            "duration_minutes": 5,
        },
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    case = counsellor.post(f"/api/v1/helpline/contacts/{contact_id}/case", {"case_id": None})
    assert case.status_code == 200, case.text
    case_id = case.json()["case_id"]
    filed = counsellor.post(
        f"/api/v1/helpline/contacts/{contact_id}/reports", {"urls": ["https://example.com/u/x"]}
    )
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]
    [alert] = officer.get(f"{STAFF}/alerts").json()
    assert alert["reference"] == reference
    [followed] = counsellor.get(f"{STAFF}/alerts").json()
    assert followed["id"] == alert["id"] and followed["may_acknowledge"] is False
    # Referred to the police by the counsellor too: the one open referral, not a second.
    referred = counsellor.post(f"/api/v1/helpline/cases/{case_id}/police", {"reason": "Now."})
    assert referred.status_code == 201, referred.text
    assert officer.post(f"{STAFF}/alerts/{alert['id']}/acknowledge").status_code == 200
    page = counsellor.get(f"/staff/helpline/cases/{case_id}").text
    assert 'id="danger-alert"' in page and "piotr" in page


def test_the_alerts_page_speaks_polish_and_english(world: dict[str, Any]) -> None:
    reference = report(world["public"])
    officer = world["officer"]
    polish = officer.get("/staff/alerts").text
    assert "Dzieci w bezpośrednim niebezpieczeństwie" in polish and reference in polish
    assert "Odbiór jeszcze niepotwierdzony" in polish
    english = officer.get("/staff/alerts?lang=en").text
    assert "Children in danger now" in english and "Not acknowledged yet" in english
    page = officer.get(f"/staff/reports/{reference}?lang=en").text
    assert "Child in danger now: alert to the police duty desk" in page
    assert "Acknowledge: the duty desk has it" in page
