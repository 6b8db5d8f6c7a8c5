"""The staff pages for the work on reports, through HTTP: queue, report, reveal, referral."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tests.cases.test_casework_api import Desk, submit
from tests.support.staff import add_agencies, add_staff, context


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx, ("hotline", "helpline", "police"))
    return {
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "counsellor": Desk(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia")),
    }


def form_post(desk: Desk, path: str, data: dict[str, str]) -> object:
    return desk.client.post(path, data={**data, "csrf": desk.csrf}, follow_redirects=False)


def test_queue_page_lists_the_report_in_polish(client: TestClient, desks: dict[str, Desk]) -> None:
    ref = submit(client)["reference"]
    page = desks["analyst"].get("/staff/queue")
    assert page.status_code == 200
    assert '<html lang="pl">' in page.text
    assert ref in page.text and "Sekstorsja" in page.text
    assert ref not in desks["officer"].get("/staff/queue").text


def test_queue_filters_refuse_unknown_values(client: TestClient, desks: dict[str, Desk]) -> None:
    page = desks["analyst"].get("/staff/queue", params={"status": "nonsense"})
    assert page.status_code == 422
    assert "Wybierz" in page.text


def test_report_page_shows_blurred_previews_and_a_reveal_form(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client)["reference"]
    page = desks["analyst"].get(f"/staff/reports/{ref}")
    assert page.status_code == 200
    assert re.search(r'src="/staff/evidence/\d+/preview.png"', page.text)
    assert 'name="reason"' in page.text and "/reveal" in page.text
    assert "<video" not in page.text
    # Counsellors work cases but never reveal images.
    other = submit(client)["reference"]
    assert desks["counsellor"].get(f"/staff/reports/{other}").status_code == 404


def test_reveal_without_a_reason_shows_the_error_in_polish(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client)["reference"]
    page = desks["analyst"].get(f"/staff/reports/{ref}").text
    evidence_id = re.search(r"/staff/evidence/(\d+)/reveal", page)
    assert evidence_id is not None
    answer = form_post(
        desks["analyst"],
        f"/staff/evidence/{evidence_id.group(1)}/reveal",
        {"reason": "", "reference": ref},
    )
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "Podaj powód" in answer.text  # type: ignore[attr-defined]
    shown = form_post(
        desks["analyst"],
        f"/staff/evidence/{evidence_id.group(1)}/reveal",
        {"reason": "Ocena materiału", "reference": ref},
    )
    assert shown.status_code == 200  # type: ignore[attr-defined]
    assert "/image?expires=" in shown.text  # type: ignore[attr-defined]


def test_refer_and_accept_through_the_forms(client: TestClient, desks: dict[str, Desk]) -> None:
    ref = submit(client)["reference"]
    sent = form_post(
        desks["analyst"], f"/staff/reports/{ref}/refer", {"to_agency": "police", "reason": "Groźby"}
    )
    assert sent.status_code == 303  # type: ignore[attr-defined]
    page = desks["officer"].get(f"/staff/reports/{ref}").text
    referral = re.search(r"/staff/referrals/(\d+)/answer", page)
    assert referral is not None
    accepted = form_post(
        desks["officer"],
        f"/staff/referrals/{referral.group(1)}/answer",
        {"decision": "accept", "reason": "Przyjmujemy", "reference": ref},
    )
    assert accepted.status_code == 303  # type: ignore[attr-defined]
    after = desks["analyst"].get(f"/staff/reports/{ref}").text
    assert "Przyjmujemy" in after and "Przekazane" in after


def test_a_form_without_the_csrf_token_is_refused(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    ref = submit(client)["reference"]
    answer = desks["analyst"].client.post(
        f"/staff/reports/{ref}/status", data={"status": "closed", "reason": "x"}
    )
    assert answer.status_code == 403


def test_signed_out_pages_go_to_the_login(client: TestClient) -> None:
    answer = client.get("/staff/queue", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/staff/login"
