"""Every code on the casework report page is shown as words, in Polish and in English.

Issue 10: the automatic police referral's reason was English on Polish pages, and codes such
as ``13_15`` and ``report.created`` were shown raw. Reasons the system writes are stored as
codes (``auto:hotline-police ...``) and rendered in the reader's language; typed reasons stay
as typed.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit import service as audit
from tarcza.cases import rules
from tarcza.cases.models import Referral
from tarcza.cases.pages import reason_text
from tarcza.intake.models import Report
from tarcza.store.base import utcnow
from tests.cases.test_casework_api import STAFF, Desk
from tests.support.staff import add_agencies, add_staff, context

HISTORY_CODE = re.compile(r"\b[a-z]+\.[a-z_.]+\b")
AGE_CODE = re.compile(r"\b\d+_\d+\b")
ENUM_CODE = re.compile(r"\b(?:in_assessment|passed_to_police|action_taken|under_13|not_illegal)\b")


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx, ("hotline", "helpline", "police"))
    return {
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
    }


def submit_13_15(client: TestClient) -> str:
    body = {
        "category": "grooming",
        "description": "Invented text: an adult asks a child to meet.",
        "child_age_range": "13_15",
        "language": "en",
    }
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


def add_system_referral(client: TestClient, reference: str, reason: str) -> None:
    """What the hotline's rules write on an assessment (hotline.actions), with ``reason``."""
    ctx = context(client)
    now = utcnow()
    with ctx.db.transaction() as session:
        report_id = session.scalars(select(Report.id).where(Report.reference == reference)).one()
        row = Referral(
            report_id=report_id,
            from_agency="hotline",
            to_agency="police",
            state="pending",
            reason_sealed=b"",
            created_by="anna",
            created_at=now,
        )
        session.add(row)
        session.flush()
        row.reason_sealed = ctx.keyring.seal_text(reason, f"referral:{row.id}:reason")
        audit.append(
            session,
            actor="anna",
            agency="hotline",
            action="report.referred",
            subject_type="report",
            subject_id=reference,
            now=now,
            reason=reason,
            details={"referral": row.id, "to": "police", "content_item": 7},
        )


def readable(html: str) -> str:
    """The words a person reads on the page (tags, scripts and hash values left out)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    html = re.sub(r'<(p|span) class="hash">.*?</\1>', " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def worked_report(client: TestClient, desks: dict[str, Desk]) -> str:
    """A report with a status change, an assignment, a system referral and an answer."""
    ref = submit_13_15(client)
    analyst = desks["analyst"]
    changes = [
        (f"{STAFF}/reports/{ref}/status", {"status": "in_assessment", "reason": "Looking"}),
        (f"{STAFF}/reports/{ref}/assignment", {"assignee": "anna"}),
    ]
    for path, body in changes:
        assert analyst.post(path, body).status_code in (200, 204)
    add_system_referral(
        client,
        ref,
        rules.system_reason(rules.HOTLINE_POLICE, item=7, classification="baseline", country="PL"),
    )
    referral = desks["officer"].get(f"{STAFF}/reports/{ref}").json()["referrals"][0]["id"]
    desks["officer"].post(f"{STAFF}/referrals/{referral}/answer", {"accept": True, "reason": "Ok"})
    return ref


def test_the_report_page_in_polish_shows_no_code(
    desks: dict[str, Desk], worked_report: str
) -> None:
    page = desks["analyst"].get(f"/staff/reports/{worked_report}")
    assert page.status_code == 200
    text = readable(page.text)

    assert not HISTORY_CODE.search(text), HISTORY_CODE.findall(text)
    assert not AGE_CODE.search(text), AGE_CODE.findall(text)
    assert not ENUM_CODE.search(text), ENUM_CODE.findall(text)
    assert "13–15 lat" in text and "angielski" in text
    assert "zgłaszający · Zgłoszenie przyjęte" in text and "Zmieniono status → W ocenie" in text
    assert "Zmieniono status publiczny → Przekazane policji" in text
    assert "Przekazanie przyjęte" in text and "Przydzielono → anna" in text
    assert (
        "Zespół ocenił treść nr 7 jako „Bazowa (nielegalna w każdym kraju)” "
        "i przekazał zgłoszenie policji. Kraj hostingu: PL." in text
    )
    assert "auto:" not in text and "Content item" not in text
    assert "Zgłaszający widzi Przekazane policji" in text


def test_the_report_page_in_english_shows_no_code(
    desks: dict[str, Desk], worked_report: str
) -> None:
    page = desks["analyst"].get(f"/staff/reports/{worked_report}", params={"lang": "en"})
    assert page.status_code == 200
    text = readable(page.text)

    assert not HISTORY_CODE.search(text), HISTORY_CODE.findall(text)
    assert not AGE_CODE.search(text), AGE_CODE.findall(text)
    assert not ENUM_CODE.search(text), ENUM_CODE.findall(text)
    assert "13–15 years" in text and "Report received" in text
    assert "Status changed → In assessment" in text and "Referral accepted" in text
    assert (
        "The hotline assessed content item #7 as “Baseline (illegal in every country)” and "
        "referred the report to the police. Hosted in PL." in text
    )


def test_a_reason_typed_by_staff_is_shown_as_typed(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit_13_15(client)
    typed = "Grożby wobec dziecka: proszę o pilne działanie."
    desks["analyst"].post(
        f"{STAFF}/reports/{ref}/referrals", {"to_agency": "police", "reason": typed}
    )

    text = readable(desks["analyst"].get(f"/staff/reports/{ref}", params={"lang": "en"}).text)

    assert f"anna: {typed}" in text


def test_a_typed_reason_cannot_pass_for_the_systems(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit_13_15(client)
    answer = desks["analyst"].post(
        f"{STAFF}/reports/{ref}/referrals",
        {"to_agency": "police", "reason": "auto:hotline-police item=1"},
    )
    assert answer.status_code == 422


def test_the_old_english_reason_of_the_hotline_is_translated_too() -> None:
    legacy = "Content item 12 (https://h.example/x) assessed as national, hosted in DE."

    assert reason_text(legacy, "pl") == (
        "Zespół ocenił treść nr 12 jako „Nielegalna według prawa krajowego” i przekazał "
        "zgłoszenie policji. Kraj hostingu: DE."
    )


def test_system_reasons_round_trip_and_refuse_spaces() -> None:
    stored = rules.system_reason(
        rules.HOTLINE_POLICE, item=3, classification="baseline", country=None
    )
    assert stored == "auto:hotline-police item=3 classification=baseline"
    parsed = rules.parse_system_reason(stored)
    assert parsed == rules.SystemReason(
        "hotline-police", {"item": "3", "classification": "baseline"}
    )
    assert rules.parse_system_reason("Please look at it") is None
    with pytest.raises(ValueError):
        rules.system_reason(rules.HOTLINE_POLICE, item="3 x")


def test_casework_names_the_classifications_as_the_hotline_does() -> None:
    from tarcza.cases.pages import LABELS as CASEWORK
    from tarcza.hotline.pages import LABELS as HOTLINE

    assert CASEWORK["classification"] == HOTLINE["classification"]
