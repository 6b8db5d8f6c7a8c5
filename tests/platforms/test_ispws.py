"""The CyberTipline-shaped endpoint through HTTP, on SQLite and PostgreSQL: a partner's client
walks submit → upload → fileinfo → finish (a tarcza report with its evidence and content
items) and submit → retract (nothing left but the audit entry)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from tarcza.alerts.models import DangerAlert
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings
from tarcza.hotline.models import ItemReport
from tarcza.intake.models import Evidence, Report
from tarcza.platforms.models import PartnerSubmission, PartnerSubmissionFile
from tarcza.store.engine import Database
from tests.platforms.support import (
    Credentials,
    add_partner,
    answer,
    file_details,
    fixture,
    sealed_files,
    submit,
    synthetic_png,
    upload,
)
from tests.support.app import make_app
from tests.support.staff import add_agencies, context
from tests.support.windows import clear_of_window_boundary


@pytest.fixture
def partner(db: Database, settings: Settings) -> Credentials:
    return add_partner(db, settings, "chatapp")


@pytest.fixture
def other(db: Database, settings: Settings) -> Credentials:
    return add_partner(db, settings, "otherapp")


def _finish(client: TestClient, who: Credentials, report_id: int) -> tuple[int, dict[str, str]]:
    response = client.post("/ispws/finish", data={"id": str(report_id)}, headers=who.headers)
    return response.status_code, answer(response.content)


def _actions(db: Database, subject: str) -> list[str]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject_id == subject)
                .order_by(AuditEntry.seq)
            )
        )


def test_status_answers_the_partner_and_the_xsd_is_a_schema(
    client: TestClient, partner: Credentials
) -> None:
    response = client.get("/ispws/status", headers=partner.headers)
    assert response.status_code == 200
    values = answer(response.content)
    assert values["_root"] == "reportResponse"
    assert values["responseCode"] == "0"
    assert values["responseDescription"] == "Remote User : chatapp"
    xsd = client.get("/ispws/xsd")
    assert xsd.status_code == 200
    etree.XMLSchema(etree.fromstring(xsd.content))  # a schema lxml can compile


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer whatever"},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic Y2hhdGFwcA=="},  # "chatapp", no colon
    ],
)
def test_missing_or_malformed_credentials_are_a_401(
    client: TestClient, partner: Credentials, headers: dict[str, str]
) -> None:
    response = client.post("/ispws/submit", content=fixture("report_minimal.xml"), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert answer(response.content)["responseCode"] == "2000"


def test_a_wrong_key_or_another_partners_name_is_a_401(
    client: TestClient, partner: Credentials, other: Credentials
) -> None:
    for who in (
        Credentials(partner.name, partner.key + "x"),
        Credentials(other.name, partner.key),  # a right key under another name
        Credentials("nobody", partner.key),
    ):
        response = client.get("/ispws/status", headers=who.headers)
        assert response.status_code == 401, who
        assert answer(response.content)["responseCode"] == "2000"


def test_submit_upload_fileinfo_finish_makes_a_tarcza_report(
    client: TestClient, db: Database, partner: Credentials
) -> None:
    report_id = submit(client, partner, fixture("report_sextortion.xml"))
    image = synthetic_png(1)
    status, uploaded = upload(client, partner, report_id, image)
    assert status == 200, uploaded
    assert uploaded["responseCode"] == "0"
    assert uploaded["reportId"] == str(report_id)
    assert uploaded["hash"] == hashlib.md5(image, usedforsecurity=False).hexdigest()
    details = file_details(report_id, uploaded["fileId"], uploaded["hash"])
    response = client.post(
        "/ispws/fileinfo",
        content=details,
        headers={**partner.headers, "Content-Type": "text/xml"},
    )
    assert answer(response.content)["responseCode"] == "0", response.text
    status, done = _finish(client, partner, report_id)
    assert status == 200
    assert done["_root"] == "reportDoneResponse"
    assert done["responseCode"] == "0"
    assert done["reportId"] == str(report_id)
    assert done["_fileIds"] == uploaded["fileId"]

    with db.sessions() as session:
        submission = session.get(PartnerSubmission, report_id)
        assert submission is not None and submission.state == "finished"
        report = session.get(Report, submission.report_id)
        assert report is not None
        assert (report.source, report.category, report.platform) == (
            "partner",
            "sextortion",
            "chatapp",
        )
        assert report.child_in_danger is False
        assert report.urls == [
            "https://files.example.org/share/abc123",
            "http://mirror.example.net/x/abc123",
            "https://chat.example.com/u/invented_user_1",
        ]
        evidence = session.scalars(select(Evidence).where(Evidence.report_id == report.id)).all()
        assert [e.md5 for e in evidence] == [uploaded["hash"]]
        assert evidence[0].pdq is not None  # hashed for matching
        items = session.scalar(
            select(func.count()).select_from(ItemReport).where(ItemReport.report_id == report.id)
        )
        assert items == 3
        classification = session.scalar(select(PartnerSubmissionFile.classification))
        assert classification == "A1"
        reference = report.reference
    assert _actions(db, str(report_id)) == ["platform.report_opened", "platform.report_finished"]

    state = client.get(f"/ispws/reports/{report_id}", headers=partner.headers)
    values = answer(state.content)
    assert (values["state"], values["reference"], values["stage"]) == (
        "finished",
        reference,
        "received",
    )
    # Finished is final: no second report, no more files.
    status, again = _finish(client, partner, report_id)
    assert (status, again["responseCode"]) == (409, "5102")
    status, late = upload(client, partner, report_id, synthetic_png(2))
    assert (status, late["responseCode"]) == (409, "5102")


def test_a_child_in_danger_is_referred_to_the_duty_desk(
    client: TestClient, db: Database, partner: Credentials
) -> None:
    add_agencies(context(client))
    report_id = submit(client, partner, fixture("report_danger.xml"))
    status, done = _finish(client, partner, report_id)
    assert (status, done["responseCode"]) == (200, "0")
    with db.sessions() as session:
        report_pk = session.scalar(
            select(PartnerSubmission.report_id).where(PartnerSubmission.id == report_id)
        )
        report = session.get(Report, report_pk)
        assert report is not None and report.child_in_danger is True
        assert report.category == "other"
        alert = session.scalar(select(DangerAlert).where(DangerAlert.report_id == report_pk))
        assert alert is not None


def test_retract_leaves_nothing_but_the_audit_entry(
    client: TestClient, db: Database, settings: Settings, partner: Credentials
) -> None:
    report_id = submit(client, partner, fixture("report_minimal.xml"))
    status, _ = upload(client, partner, report_id, synthetic_png(3))
    assert status == 200
    assert len(sealed_files(settings)) == 1
    response = client.post("/ispws/retract", data={"id": str(report_id)}, headers=partner.headers)
    assert answer(response.content)["responseCode"] == "0", response.text
    assert sealed_files(settings) == []
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PartnerSubmission)) == 0
        assert session.scalar(select(func.count()).select_from(PartnerSubmissionFile)) == 0
        assert session.scalar(select(func.count()).select_from(Report)) == 0
    assert _actions(db, str(report_id)) == ["platform.report_opened", "platform.report_retracted"]
    status, gone = _finish(client, partner, report_id)
    assert (status, gone["responseCode"]) == (404, "5001")


def test_another_partners_report_does_not_exist_for_it(
    client: TestClient, db: Database, partner: Credentials, other: Credentials
) -> None:
    report_id = submit(client, partner, fixture("report_minimal.xml"))
    status, uploaded = upload(client, other, report_id, synthetic_png(4))
    assert (status, uploaded["responseCode"]) == (404, "5001")
    status, done = _finish(client, other, report_id)
    assert (status, done["responseCode"]) == (404, "5001")
    retracted = client.post("/ispws/retract", data={"id": str(report_id)}, headers=other.headers)
    assert (retracted.status_code, answer(retracted.content)["responseCode"]) == (404, "5001")
    state = client.get(f"/ispws/reports/{report_id}", headers=other.headers)
    assert answer(state.content)["responseCode"] == "5001"
    details = file_details(report_id, "0" * 32, "0" * 32)
    info = client.post("/ispws/fileinfo", content=details, headers=other.headers)
    assert answer(info.content)["responseCode"] == "5001"
    with db.sessions() as session:  # still open, for its own partner
        assert session.scalar(select(PartnerSubmission.state)) == "open"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<report><incidentSummary>", "malformed XML"),
        (b"", "empty"),
        (fixture("billion_laughs.xml"), "DOCTYPE"),
        (fixture("report_invalid.xml"), "incidentType"),
        (b"<fileDetails><reportId>1</reportId><fileId>x</fileId></fileDetails>", "root element"),
    ],
)
def test_malformed_or_invalid_xml_is_refused_with_4100(
    client: TestClient, db: Database, partner: Credentials, body: bytes, says: str
) -> None:
    response = client.post(
        "/ispws/submit", content=body, headers={**partner.headers, "Content-Type": "text/xml"}
    )
    assert response.status_code == 400
    values = answer(response.content)
    assert values["responseCode"] == "4100"
    assert says in values["responseDescription"]
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PartnerSubmission)) == 0


def test_an_oversized_xml_body_is_refused(client: TestClient, partner: Credentials) -> None:
    body = b"<report>" + b" " * (1024 * 1024 + 1) + b"</report>"
    response = client.post(
        "/ispws/submit", content=body, headers={**partner.headers, "Content-Type": "text/xml"}
    )
    assert response.status_code == 413


def test_an_upload_that_is_not_an_image_or_too_large_leaves_nothing(
    client: TestClient, db: Database, settings: Settings, partner: Credentials
) -> None:
    report_id = submit(client, partner, fixture("report_minimal.xml"))
    status, values = upload(client, partner, report_id, b"just some text", name="a.txt")
    assert (status, values["responseCode"]) == (400, "4110")
    too_large = synthetic_png(5) + b"\0" * settings.max_file_bytes
    status, values = upload(client, partner, report_id, too_large)
    assert status == 413
    assert values["responseCode"] == "4000"
    assert sealed_files(settings) == []
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PartnerSubmissionFile)) == 0


def test_an_upload_or_finish_without_a_report_id_is_refused(
    client: TestClient, partner: Credentials, settings: Settings
) -> None:
    response = client.post(
        "/ispws/upload",
        files={"file": ("a.png", synthetic_png(6), "image/png")},
        headers=partner.headers,
    )
    assert (response.status_code, answer(response.content)["responseCode"]) == (400, "4000")
    assert sealed_files(settings) == []
    status, values = _finish(client, partner, 0)
    assert (status, values["responseCode"]) == (400, "4000")


def test_an_unfinished_report_expires_with_its_files(
    client: TestClient, db: Database, settings: Settings, partner: Credentials
) -> None:
    old = submit(client, partner, fixture("report_minimal.xml"))
    upload(client, partner, old, synthetic_png(7))
    fresh = submit(client, partner, fixture("report_minimal.xml"))
    with db.transaction() as session:
        row = session.get(PartnerSubmission, old)
        assert row is not None
        row.created_at -= timedelta(hours=25)
    assert context(client).platforms.expire() == 1
    assert sealed_files(settings) == []
    with db.sessions() as session:
        assert list(session.scalars(select(PartnerSubmission.id))) == [fresh]
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "platform.report_expired")
        )
        assert entry is not None and entry.subject_id == str(old)
        assert json.loads(entry.details)["files"] == 1


def test_the_partners_quota_of_reports_holds_finish_and_keeps_the_report_open(
    settings: Settings, db: Database
) -> None:
    limited = settings.model_copy(update={"report_rate_per_partner": "1/minute"})
    clear_of_window_boundary(60, 15)  # both finishes in one minute's window
    with TestClient(make_app(limited, db), base_url="http://127.0.0.1") as client:
        partner = add_partner(db, limited, "chatapp")
        first = submit(client, partner, fixture("report_minimal.xml"))
        second = submit(client, partner, fixture("report_minimal.xml"))
        upload(client, partner, second, synthetic_png(8))
        assert _finish(client, partner, first)[1]["responseCode"] == "0"
        response = client.post("/ispws/finish", data={"id": str(second)}, headers=partner.headers)
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "try again" in answer(response.content)["responseDescription"]
        state = client.get(f"/ispws/reports/{second}", headers=partner.headers)
        assert answer(state.content)["state"] == "open"  # kept, with its file, for a retry
        assert len(sealed_files(limited)) == 1  # the second report's picture, still there


def test_a_file_that_cannot_be_decoded_refuses_the_report_and_leaves_nothing(
    client: TestClient, db: Database, settings: Settings, partner: Credentials
) -> None:
    report_id = submit(client, partner, fixture("report_minimal.xml"))
    broken = synthetic_png(11)[:40] + b"\0" * 200  # a PNG's signature, then nothing decodable
    status, uploaded = upload(client, partner, report_id, broken)
    assert status == 200
    status, done = _finish(client, partner, report_id)
    assert (status, done["responseCode"]) == (400, "4110")
    assert uploaded["fileId"] in done["responseDescription"]  # names the file at fault
    assert sealed_files(settings) == []
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PartnerSubmission)) == 0
        assert session.scalar(select(func.count()).select_from(Report)) == 0
    assert _actions(db, str(report_id))[-1] == "platform.report_refused"
