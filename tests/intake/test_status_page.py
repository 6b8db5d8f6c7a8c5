"""The public status page and API tell the truth about the work, in Polish and in English.

Issue 10: a report that was assessed, referred to the police and removed still said
"Przyjęte — czeka na analityka". The stage now follows casework (and, once wired, the
hotline); the page shows it with the date of the last change and what happens next.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.intake import rules
from tarcza.intake.models import Report
from tarcza.intake.service import advance_public_stage
from tests.cases.test_casework_api import STAFF, Desk, submit
from tests.support.staff import add_agencies, add_staff, context

# Codes that must never reach a reader: audit actions (report.created) and age ranges (13_15).
RAW_CODE = re.compile(r"\b[a-z]+\.[a-z_.]+\b|\b\d+_\d+\b|\b[a-z]+_[a-z_]+\b")


def visible_text(html: str) -> str:
    """What a person reads: no tags, no scripts or styles, no attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


def status_page(client: TestClient, created: dict[str, str], lang: str = "pl") -> str:
    page = client.post(
        f"/status?lang={lang}", data={"reference": created["reference"], "pin": created["pin"]}
    )
    assert page.status_code == 200, page.text
    return page.text


def section(html: str) -> str:
    found = re.search(r'<section class="status-result".*?</section>', html, re.DOTALL)
    assert found, html
    return " ".join(visible_text(found.group(0)).split())


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx, ("hotline", "helpline", "police"))
    return {
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "counsellor": Desk(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia")),
    }


def today(lang: str) -> str:
    now = datetime.now(UTC)
    months = {
        "pl": "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września "
        "października listopada grudnia",
        "en": "January February March April May June July August September October "
        "November December",
    }[lang].split()
    return f"{now.day} {months[now.month - 1]} {now.year}"


def test_a_new_report_says_received_with_its_date_and_the_next_step_in_polish(
    client: TestClient,
) -> None:
    created = submit(client, image=False)

    text = section(status_page(client, created))

    assert "Przyjęte" in text
    assert f"Ostatnia zmiana: {today('pl')}" in text
    assert "Co dalej" in text and "Wkrótce przyjrzy mu się analityk." in text
    assert not RAW_CODE.search(text), RAW_CODE.findall(text)


def test_the_same_status_in_english(client: TestClient) -> None:
    created = submit(client, image=False)

    text = section(status_page(client, created, "en"))

    assert "Received" in text and f"Last change: {today('en')}" in text
    assert "What happens next" in text and "A hotline analyst will look at it soon." in text
    assert not RAW_CODE.search(text), RAW_CODE.findall(text)


def test_the_stage_follows_casework_to_the_police_and_to_closed(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    created = submit(client, image=False)
    ref = created["reference"]
    analyst, officer = desks["analyst"], desks["officer"]

    analyst.post(f"{STAFF}/reports/{ref}/status", {"status": "in_assessment", "reason": "Looking"})
    assert "W ocenie" in section(status_page(client, created))

    rid = analyst.post(
        f"{STAFF}/reports/{ref}/referrals", {"to_agency": "police", "reason": "Threats"}
    ).json()["id"]
    officer.post(f"{STAFF}/referrals/{rid}/answer", {"accept": True, "reason": "We take it"})
    polish = section(status_page(client, created))
    assert "Przekazane policji" in polish and "policja może się z Tobą skontaktować" in polish
    english = section(status_page(client, created, "en"))
    assert "Passed to the police" in english
    # Nothing of the casework leaks: not the reasons, not who, not which police unit.
    for secret in ("Threats", "We take it", "piotr", "anna"):
        assert secret not in polish and secret not in english

    analyst.post(f"{STAFF}/reports/{ref}/status", {"status": "closed", "reason": "Done"})
    assert "Zamknięte" in section(status_page(client, created))


def test_a_removal_recorded_by_the_hotline_reaches_the_page(client: TestClient) -> None:
    created = submit(client, image=False)
    ctx = context(client)
    with ctx.db.transaction() as session:
        rid = session.scalars(select(Report.id).where(Report.reference == created["reference"]))
        advance_public_stage(
            session,
            rid.all(),
            rules.PublicStage.CONTENT_REMOVED,
            datetime.now(UTC),
            actor="monitor",
        )

    text = section(status_page(client, created))

    assert "Treści usunięte" in text and "Dziękujemy, że pomagasz chronić dzieci." in text
    assert "Przyjęte" not in text


def test_the_api_keeps_status_and_adds_the_stage_date_and_next_step(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    created = submit(client, image=False)
    ref = created["reference"]
    desks["analyst"].post(
        f"{STAFF}/reports/{ref}/status", {"status": "in_assessment", "reason": "Looking"}
    )

    answer = client.get(
        f"/api/v1/reports/{ref}/status",
        params={"lang": "en"},
        headers={"X-Report-PIN": created["pin"]},
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "in_assessment"  # older clients read what they always did
    assert body["stage"] == "in_assessment" and body["language"] == "en"
    assert body["next_step"].startswith("A hotline analyst is looking at your report.")
    assert datetime.fromisoformat(body["changed_at"]).date() == datetime.now(UTC).date()
    unknown_language = client.get(
        f"/api/v1/reports/{ref}/status",
        params={"lang": "de"},
        headers={"X-Report-PIN": created["pin"]},
    )
    assert unknown_language.status_code == 422


def test_the_openapi_document_describes_the_new_fields(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    answer = schema["components"]["schemas"]["ReportStatus"]
    assert {"reference", "status", "stage", "changed_at", "next_step", "language"} <= set(
        answer["required"]
    )
    stage = schema["components"]["schemas"]["PublicStage"]
    assert set(stage["enum"]) == {s.value for s in rules.PublicStage}
