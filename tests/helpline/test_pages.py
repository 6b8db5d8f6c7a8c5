"""The helpline's staff pages without JavaScript: Polish by default, English on request,
refusals shown on the form with the field named, other agencies answered 404/403."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tests.support.staff import add_agencies, add_staff, context, sign_in

FORM = {
    "channel": "chat",
    "caller": "professional",
    "age_band": "10_12",
    "topics": ["grooming", "school"],
    "risk": "medium",
    "summary": "Zmyślone: nauczycielka opisuje rozmowy ucznia z dorosłym.",
    "duration_minutes": "4",
}


@pytest.fixture
def kasia(client: TestClient) -> tuple[TestClient, str]:
    ctx = context(client)
    add_agencies(ctx)
    csrf = sign_in(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia"))
    return client, csrf


def test_a_contact_recorded_through_the_form_lands_on_its_page(
    kasia: tuple[TestClient, str],
) -> None:
    client, csrf = kasia
    form = client.get("/staff/helpline/contacts/new")
    assert form.status_code == 200
    assert '<label for="contact-summary">Podsumowanie (zaszyfrowane)</label>' in form.text
    done = client.post("/staff/helpline/contacts", data={**FORM, "csrf": csrf})
    assert done.status_code == 200  # followed the 303
    assert "Kontakt został zapisany." in done.text
    assert "Grooming (uwodzenie)" in done.text and "Szkoła i edukacja" in done.text
    assert re.search(r"/staff/helpline/contacts/\d+", str(done.url))
    home = client.get("/staff/helpline")
    assert "Ostatnie kontakty" in home.text and "Czat" in home.text
    english = client.get("/staff/helpline?lang=en")
    assert "Latest contacts" in english.text and "Record a contact" in english.text


def test_a_refused_form_is_shown_again_with_the_field_named(
    kasia: tuple[TestClient, str],
) -> None:
    client, csrf = kasia
    refused = client.post(
        "/staff/helpline/contacts",
        data={**FORM, "topics": [], "number": "600", "csrf": csrf},
    )
    assert refused.status_code == 422
    assert 'href="#contact-topics"' in refused.text
    # What was typed is kept.
    assert "nauczycielka opisuje" in refused.text
    no_reason = client.post(
        "/staff/helpline/contacts", data={**FORM, "number": "600", "csrf": csrf}
    )
    assert no_reason.status_code == 422
    assert 'id="contact-identity_reason-error"' in no_reason.text
    assert "To pole jest wymagane." in no_reason.text
    bad_time = client.post(
        "/staff/helpline/contacts", data={**FORM, "started_at": "wczoraj", "csrf": csrf}
    )
    assert bad_time.status_code == 422
    assert "Podaj datę i godzinę." in bad_time.text


def test_a_form_without_the_csrf_token_is_refused(kasia: tuple[TestClient, str]) -> None:
    client, _ = kasia
    assert client.post("/staff/helpline/contacts", data=FORM).status_code == 403


def test_another_agency_gets_nothing(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx)
    counsellor = TestClient(client.app, base_url="http://127.0.0.1")
    csrf = sign_in(counsellor, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia"))
    done = counsellor.post("/staff/helpline/contacts", data={**FORM, "csrf": csrf})
    contact_path = re.search(r"/staff/helpline/contacts/\d+", str(done.url))
    assert contact_path is not None
    sign_in(client, add_staff(ctx, "hotline", Role.SUPERVISOR, "marek"))
    assert client.get(contact_path.group(0)).status_code == 403
    assert client.get("/staff/helpline").status_code == 403
    assert "/staff/helpline" not in client.get("/staff/queue").text
