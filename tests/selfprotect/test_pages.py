"""The self-protection pages through HTTP (issue 12): fingerprints in a form field, never a file;
the receipt, following, adding, withdrawing; the supervisors' review."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.config import Settings
from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.store.engine import Database
from tests.selfprotect.test_cases_api import NOW, image
from tests.support.app import make_app
from tests.support.staff import add_agencies, add_staff, context, sign_in


@pytest.fixture
def web(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(make_app(settings, db), base_url="http://127.0.0.1") as client:
        yield client


def _send(web: TestClient, *items: dict[str, Any], lang: str = "pl") -> Any:
    return web.post(
        f"/protect?lang={lang}", data={"age_band": "13_15", "items": json.dumps(list(items))}
    )


def _case(page: str) -> tuple[str, str]:
    reference = re.search(r'id="reference" class="code">([^<]+)<', page)
    pin = re.search(r'id="pin" class="code">([^<]+)<', page)
    assert reference and pin
    return reference.group(1), pin.group(1)


def test_the_page_sends_no_file_and_sets_only_a_random_device_token(web: TestClient) -> None:
    page = web.get("/protect")
    assert page.status_code == 200
    assert 'src="/static/selfprotect/protect.js"' in page.text
    # The file input has no name: a form submission can never carry the file.
    file_input = re.search(r"<input type=\"file\"[^>]*>", page.text)
    assert file_input and "name=" not in file_input.group(0)
    assert "enctype" not in page.text.split('id="protect-form"')[0].rsplit("<form", 1)[-1]
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("tz_device=") and "HttpOnly" in cookie and "Path=/protect" in cookie
    assert "Nie wysyłamy" in page.text or "nie opuszczają" in page.text


def test_a_case_opens_follows_grows_and_withdraws(web: TestClient) -> None:
    receipt = _send(web, image(), image())
    assert receipt.status_code == 200
    reference, pin = _case(receipt.text)
    assert reference.startswith("OC-") and re.fullmatch(r"\d{6}", pin)
    assert "utraty nie da się cofnąć" in receipt.text
    assert 'id="count-shared">2<' in receipt.text
    status = web.post("/protect/status", data={"reference": reference.lower(), "pin": pin})
    assert status.status_code == 200 and 'id="count-items">2<' in status.text
    added = web.post(
        "/protect/add",
        data={"reference": reference, "pin": pin, "items": json.dumps([image()])},
    )
    assert 'id="count-items">3<' in added.text
    unconfirmed = web.post("/protect/withdraw", data={"reference": reference, "pin": pin})
    assert unconfirmed.status_code == 422 and 'id="case-withdrawn"' not in unconfirmed.text
    done = web.post(
        "/protect/withdraw", data={"reference": reference, "pin": pin, "confirm": "yes"}
    )
    assert done.status_code == 200 and 'id="case-withdrawn"' in done.text


def test_a_plain_picture_is_refused_in_the_persons_language(web: TestClient) -> None:
    page = _send(web, image(20), lang="en")
    assert page.status_code == 422
    assert "too plain to recognise reliably" in page.text


def test_a_wrong_pin_is_a_kind_404(web: TestClient) -> None:
    reference, pin = _case(_send(web, image()).text)
    wrong = "000000" if pin != "000000" else "111111"
    page = web.post("/protect/status", data={"reference": reference, "pin": wrong})
    assert page.status_code == 404 and "Żadna sprawa nie pasuje" in page.text


def test_the_public_pages_lead_to_protection(web: TestClient) -> None:
    assert 'href="/protect"' in web.get("/").text
    assert 'href="/protect"' in web.get("/status").text
    sextortion = web.post("/report", data={"category": "sextortion", "description": "threats"})
    assert 'href="/protect"' in sextortion.text
    assert "Take It Down" in sextortion.text and "StopNCII.org" in sextortion.text


def test_a_supervisor_reviews_held_fingerprints(web: TestClient, db: Database) -> None:
    picture = image()
    with db.transaction() as session:
        bank_service.create_bank(session, "LAWFUL", actor="test", now=NOW, kind=BankKind.ALLOW)
        bank_service.add_signals(
            session, "LAWFUL", [Entry(SignalType.MD5, picture["md5"])], actor="test", now=NOW
        )
    _send(web, picture)
    ctx = context(web)
    add_agencies(ctx)
    analyst = add_staff(ctx, "hotline", Role.ANALYST)
    sign_in(web, analyst)
    assert web.get("/staff/selfprotect").status_code == 403
    supervisor = add_staff(ctx, "hotline", Role.SUPERVISOR)
    csrf = sign_in(web, supervisor)
    page = web.get("/staff/selfprotect")
    assert page.status_code == 200 and "pasuje do banku dozwolonych treści" in page.text
    held = re.findall(r'action="/staff/selfprotect/(\d+)"', page.text)
    assert len(held) == 3
    missing_reason = web.post(
        f"/staff/selfprotect/{held[0]}", data={"csrf": csrf, "decision": "share"}
    )
    assert missing_reason.status_code == 422
    for hash_id in held:
        answer = web.post(
            f"/staff/selfprotect/{hash_id}",
            data={"csrf": csrf, "decision": "keep_out", "reason": "a stock photo"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    assert 'id="nothing-held"' in web.get("/staff/selfprotect").text
