"""The MNR tracker through HTTP (its API and its pages), on SQLite and PostgreSQL.

A police officer updates capability 4's evidence and adds an action; the coordinator sees
the change and its history and changes the phase; a hotline analyst reads but may not
change capability 4 (403, and no form); a count of 3 is never shown.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.helpline.models import HelplineCase
from tarcza.store.base import utcnow
from tests.support.staff import StaffUser, add_agencies, add_staff, context, sign_in

API = "/api/v1/mnr"


class Desk:
    """One person's own HTTP client (own cookie jar) on the shared app."""

    def __init__(self, client: TestClient, user: StaffUser) -> None:
        self.client = TestClient(client.app, base_url="http://127.0.0.1")
        self.csrf = sign_in(self.client, user)

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def send(self, method: str, path: str, json: Any = None) -> Any:
        return self.client.request(method, path, json=json, headers={"X-CSRF-Token": self.csrf})

    def form(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={**data, "csrf": self.csrf}, follow_redirects=False)


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx)
    return {
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "coordinator": Desk(client, add_staff(ctx, "ministry", Role.COORDINATOR, "ola")),
        "admin": Desk(client, add_staff(ctx, "police", Role.ADMINISTRATOR, "adam")),
        "auditor": Desk(client, add_staff(ctx, "ministry", Role.AUDITOR, "ewa")),
    }


def test_the_programme_reads_the_21_capabilities(desks: dict[str, Desk]) -> None:
    answer = desks["analyst"].get(f"{API}/capabilities")
    assert answer.status_code == 200
    body = answer.json()
    assert [c["number"] for c in body] == list(range(1, 22))
    four = body[3]
    assert four["name"] == {
        "pl": "Wyspecjalizowane organy ścigania",
        "en": "Dedicated law enforcement",
    }
    assert four["domain"] == "justice" and four["domain_name"]["en"] == "Criminal justice"
    assert four["agencies"] == ["police"] and four["phase"] == 1
    assert [i["key"] for i in four["indicators"]] == [
        "police.referrals",
        "police.acknowledged",
        "police.hours_to_acknowledge",
        "police.outcomes",
    ]
    assert body[0]["self_assessed"] and body[0]["indicators"] == []
    for who in ("admin", "auditor"):
        assert desks[who].get(f"{API}/capabilities").status_code == 403
    anonymous = TestClient(desks["officer"].client.app, base_url="http://127.0.0.1")
    assert anonymous.get(f"{API}/capabilities").status_code == 401


def test_the_police_update_capability_4_and_the_coordinator_sees_it(desks: dict[str, Desk]) -> None:
    officer, coordinator, analyst = desks["officer"], desks["coordinator"], desks["analyst"]
    changed = officer.send(
        "PATCH", f"{API}/capabilities/4", {"evidence": "Three units, 60 officers."}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["may_update"] and not changed.json()["may_manage"]
    due = (utcnow() - timedelta(days=2)).date().isoformat()
    added = officer.send(
        "POST",
        f"{API}/capabilities/4/actions",
        {"title": "Train 40 more", "owner": "police", "due": due},
    )
    assert added.status_code == 201, added.text
    assert added.json()["overdue"] and added.json()["state"] == "planned"

    seen = coordinator.get(f"{API}/capabilities/4").json()
    assert seen["evidence"] == "Three units, 60 officers." and seen["updated_by"] == "piotr"
    assert seen["overdue_actions"] == 1
    assert {(h["field"], h["changed_by"]) for h in seen["history"]} >= {
        ("evidence", "piotr"),
        ("title", "piotr"),
    }
    phase = coordinator.send("PATCH", f"{API}/capabilities/4", {"phase": 2})
    assert phase.status_code == 200 and phase.json()["phase"] == 2

    # the hotline's analyst reads it but changes nothing of it
    assert analyst.get(f"{API}/capabilities/4").json()["may_update"] is False
    assert analyst.send("PATCH", f"{API}/capabilities/4", {"evidence": "x"}).status_code == 403
    action_id = added.json()["id"]
    assert analyst.send("PATCH", f"{API}/actions/{action_id}", {"state": "done"}).status_code == 403
    assert officer.send("PATCH", f"{API}/capabilities/4", {"phase": 4}).status_code == 403
    done = officer.send("PATCH", f"{API}/actions/{action_id}", {"state": "done"})
    assert done.status_code == 200 and done.json()["overdue"] is False


def test_bad_input_names_the_field_and_the_rule(desks: dict[str, Desk]) -> None:
    officer, coordinator = desks["officer"], desks["coordinator"]
    wrong_owner = officer.send(
        "POST",
        f"{API}/capabilities/4/actions",
        {"title": "x", "owner": "hotline", "due": "2027-01-01"},
    )
    assert wrong_owner.status_code == 422
    assert wrong_owner.json()["detail"][0]["loc"] == ["body", "owner"]
    assert wrong_owner.json()["detail"][0]["type"] == "not_responsible"
    blank = officer.send("PATCH", f"{API}/capabilities/4", {"evidence": "   "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["type"] == "required"
    unknown = coordinator.send("PATCH", f"{API}/capabilities/4", {"agencies": ["fbi"]})
    assert unknown.json()["detail"][0]["type"] == "unknown_agency"
    assert officer.send("PATCH", f"{API}/capabilities/4", {"phase": 9}).status_code == 422
    assert officer.send("PATCH", f"{API}/capabilities/4", {"colour": "red"}).status_code == 422
    assert officer.get(f"{API}/capabilities/22").status_code == 422
    assert officer.send("PATCH", f"{API}/actions/999999", {"state": "done"}).status_code == 404
    assert coordinator.send("PATCH", f"{API}/domains/nowhere", {"name_en": "X"}).status_code == 404
    assert officer.send("PATCH", f"{API}/domains/media", {"name_en": "X"}).status_code == 403
    no_csrf = officer.client.patch(f"{API}/capabilities/4", json={"evidence": "x"})
    assert no_csrf.status_code == 403
    api = officer.client.get("/api/v1/openapi.json").json()["paths"]
    assert {"400", "403", "404", "422"} <= set(
        api[f"{API}/capabilities/{{number}}"]["patch"]["responses"]
    )


def test_a_count_of_3_is_never_shown(client: TestClient, desks: dict[str, Desk]) -> None:
    now = utcnow()
    with context(client).db.transaction() as session:
        session.add_all(
            HelplineCase(agency="helpline", status="open", risk="high", created_by="kasia",
                         created_at=now, updated_at=now)
            for _ in range(3)
        )  # fmt: skip
    body = desks["coordinator"].get(f"{API}/capabilities/11").json()
    cases = next(i for i in body["indicators"] if i["key"] == "helpline.cases_opened")
    assert cases == {
        "key": "helpline.cases_opened",
        "unit": "count",
        "value": None,
        "suppressed": True,
    }
    for path in ("/staff/mnr", "/staff/mnr/11", "/staff/mnr/11?lang=en"):
        page = desks["coordinator"].get(path).text
        assert 'id="figure-helpline.cases_opened">&lt;5</dd>' in page
        assert 'id="figure-helpline.cases_opened">3<' not in page


def test_the_pages_show_forms_only_to_those_who_may_send_them(desks: dict[str, Desk]) -> None:
    officer, analyst, coordinator = desks["officer"], desks["analyst"], desks["coordinator"]
    home = officer.get("/staff/mnr")
    assert home.status_code == 200 and '<html lang="pl">' in home.text
    assert "Krajowy model reagowania" in home.text and 'href="/staff/mnr/4"' in home.text
    assert 'href="/staff/mnr"' in home.text  # in the staff menu
    assert "National response tracker" in officer.get("/staff/mnr?lang=en").text

    assert 'id="evidence-evidence"' in officer.get("/staff/mnr/4").text
    assert 'id="manage-phase"' not in officer.get("/staff/mnr/4").text
    assert 'id="evidence-evidence"' not in analyst.get("/staff/mnr/4").text
    assert 'id="new-action"' not in analyst.get("/staff/mnr/4").text
    assert analyst.form("/staff/mnr/4/evidence", {"evidence": "x"}).status_code == 403
    assert 'id="manage-phase"' in coordinator.get("/staff/mnr/4").text
    assert desks["admin"].get("/staff/mnr").status_code == 403

    saved = officer.form("/staff/mnr/4/evidence", {"evidence": "Units in all 17 garrisons."})
    assert saved.status_code == 303
    late = officer.form(
        "/staff/mnr/4/actions",
        {"title": "Buy forensic kits", "owner": "police", "due": "2020-05-01"},
    )
    assert late.status_code == 303
    refused = officer.form(
        "/staff/mnr/4/actions", {"title": "", "owner": "police", "due": "2027-01-01"}
    )
    assert refused.status_code == 422 and 'id="action-title-error"' in refused.text

    page = coordinator.get("/staff/mnr/4").text
    assert "Units in all 17 garrisons." in page
    assert 'class="mnr-card overdue"' in page and "Po terminie" in page  # words, not colour only
    assert 'id="history"' in page and "piotr" in page
    overview = coordinator.get("/staff/mnr").text
    assert 'id="overdue-4"' in overview
    managed = coordinator.form(
        "/staff/mnr/4/manage",
        {
            "phase": "3",
            "name_pl": "Policja",
            "name_en": "Police",
            "agencies": ["police"],
            "institutions": "",
        },
    )
    assert managed.status_code == 303
    assert "3 · Działa" in coordinator.get("/staff/mnr/4").text
    renamed = coordinator.form("/staff/mnr/domains/media", {"name_pl": "Media", "name_en": "Media"})
    assert renamed.status_code == 303


def test_a_method_not_allowed_names_every_method_of_the_path(desks: dict[str, Desk]) -> None:
    answer = desks["officer"].send("PUT", f"{API}/capabilities/4", {})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PATCH"  # both routes of the path, not the first
