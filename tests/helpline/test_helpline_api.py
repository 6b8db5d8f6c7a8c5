"""The child helpline through its API, on SQLite and PostgreSQL (issue 13).

A counsellor records a contact with minimal data, opens a case, files the child's links to
the hotline (they become the hotline's content items), gives the self-protection link and
refers the case to the police (the police queue receives it; the police read the case's
summary only). Other agencies see nothing of the helpline's records; a hotline or police
supervisor holds no helpline action; bad input answers 422 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.audit.models import AuditEntry
from tarcza.helpline.models import HelplineContact
from tarcza.store.base import utcnow
from tests.support.staff import StaffUser, add_agencies, add_staff, context, sign_in

API = "/api/v1/helpline"
STAFF = "/api/v1/staff"


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

    def patch(self, path: str, json: Any = None) -> Any:
        return self.client.patch(path, json=json, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture
def desks(client: TestClient) -> dict[str, Desk]:
    ctx = context(client)
    add_agencies(ctx)
    ctx.accounts.add_agency("helpline-2", "Another helpline", AgencyKind.HELPLINE)
    return {
        "counsellor": Desk(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia")),
        "colleague": Desk(client, add_staff(ctx, "helpline", Role.COUNSELLOR, "zosia")),
        "supervisor": Desk(client, add_staff(ctx, "helpline", Role.SUPERVISOR, "hela")),
        "other_helpline": Desk(client, add_staff(ctx, "helpline-2", Role.COUNSELLOR, "inna")),
        "analyst": Desk(client, add_staff(ctx, "hotline", Role.ANALYST, "anna")),
        "hotline_supervisor": Desk(client, add_staff(ctx, "hotline", Role.SUPERVISOR, "marek")),
        "officer": Desk(client, add_staff(ctx, "police", Role.OFFICER, "piotr")),
        "police_supervisor": Desk(client, add_staff(ctx, "police", Role.SUPERVISOR, "ryszard")),
    }


SEXTORTION_CALL = {
    "channel": "phone",
    "caller": "child",
    "age_band": "13_15",
    "topics": ["sextortion", "online_sexual_abuse"],
    "risk": "high",
    "summary": "Invented: a stranger threatens to post the child's photos unless paid.",
    "duration_minutes": 12,
}


def record(desk: Desk, **changes: Any) -> int:
    response = desk.post(f"{API}/contacts", {**SEXTORTION_CALL, **changes})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def open_case(desk: Desk, contact_id: int) -> int:
    response = desk.post(f"{API}/contacts/{contact_id}/case", {"case_id": None})
    assert response.status_code == 200, response.text
    return int(response.json()["case_id"])


def audit_actions(client: TestClient) -> list[str]:
    with context(client).db.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_a_contact_is_recorded_with_minimal_data_and_its_summary_sealed(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    contact_id = record(desks["counsellor"])
    got = desks["counsellor"].get(f"{API}/contacts/{contact_id}").json()
    assert got["topics"] == ["sextortion", "online_sexual_abuse"]
    assert got["summary"].startswith("Invented: a stranger")
    assert got["has_identity"] is False
    with context(client).db.sessions() as session:
        row = session.get(HelplineContact, contact_id)
        assert row is not None
        assert b"stranger" not in row.summary_sealed
        assert row.identity_sealed is None
    # No name or number was kept: there is nothing to read.
    assert desks["counsellor"].get(f"{API}/contacts/{contact_id}/identity").status_code == 404
    assert "helpline.contact_recorded" in audit_actions(client)


def test_a_name_or_number_only_with_a_reason_and_reading_it_is_audited(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    refused = desks["counsellor"].post(
        f"{API}/contacts", {**SEXTORTION_CALL, "number": "+48 600 000 000"}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "identity_reason"
    contact_id = record(
        desks["counsellor"],
        number="+48 600 000 000",
        identity_reason="The child asked to be called back tomorrow.",
    )
    with context(client).db.sessions() as session:
        row = session.get(HelplineContact, contact_id)
        assert row is not None and row.identity_sealed is not None
        assert b"600" not in row.identity_sealed
    found = desks["counsellor"].get(f"{API}/contacts/{contact_id}/identity").json()
    assert found["number"] == "+48 600 000 000"
    assert found["reason"].startswith("The child asked")
    assert "helpline.identity_read" in audit_actions(client)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"topics": []}, "topics"),
        ({"topics": ["nonsense"]}, "topics"),
        ({"risk": "extreme"}, "risk"),
        ({"age_band": "99"}, "age_band"),
        ({"summary": ""}, "summary"),
        ({"duration_minutes": 601}, "duration_minutes"),
        ({"started_at": "2020-01-01T10:00:00+00:00"}, "started_at"),
        ({"summary": "bad \x00 byte"}, "summary"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    desks: dict[str, Desk], change: dict[str, Any], field: str
) -> None:
    response = desks["counsellor"].post(f"{API}/contacts", {**SEXTORTION_CALL, **change})
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["detail"]]
    assert any(field in loc for loc in locs), locs


def test_from_a_contact_one_step_each_case_report_selfprotect_police(
    client: TestClient, desks: dict[str, Desk]
) -> None:
    counsellor = desks["counsellor"]
    contact_id = record(counsellor)
    case_id = open_case(counsellor, contact_id)

    filed = counsellor.post(
        f"{API}/contacts/{contact_id}/reports",
        {"urls": ["https://example.com/u/extorter", "https://example.net/p/1"]},
    )
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]
    # The links are the hotline's content items now, on a report in the hotline's queue.
    report = desks["analyst"].get(f"{STAFF}/reports/{reference}").json()
    assert report["source"] == "helpline"
    assert report["category"] == "sextortion"
    assert report["child_age_range"] == "13_15"
    assert sorted(i["url_as_reported"] for i in report["items"]) == [
        "https://example.com/u/extorter",
        "https://example.net/p/1",
    ]
    assert report["owner_agency"] == "hotline"

    given = counsellor.post(f"{API}/contacts/{contact_id}/selfprotect")
    assert given.status_code == 200 and given.json()["path"] == "/protect"

    referred = counsellor.post(
        f"{API}/cases/{case_id}/police", {"reason": "Extortion with a deadline tonight."}
    )
    assert referred.status_code == 201, referred.text
    police_ref = referred.json()["reference"]
    queue = desks["officer"].get(f"{STAFF}/reports").json()
    assert [(i["reference"], i["referral_pending"]) for i in queue] == [(police_ref, True)]
    # Once with the police, the case is not referred a second time (a double click).
    again = counsellor.post(f"{API}/contacts/{contact_id}/police", {"reason": "Again."})
    assert again.status_code == 422
    assert again.json()["detail"][0]["type"] == "duplicate"

    case = counsellor.get(f"{API}/cases/{case_id}").json()
    kinds = [e["kind"] for e in case["events"]]
    assert kinds == ["linked", "report", "selfprotect", "police"]
    police_event = case["events"][-1]
    assert police_event["text"] == "Extortion with a deadline tonight."
    assert police_event["report_reference"] == police_ref
    assert police_event["referral_state"] == "pending"
    assert case["events"][1]["report_reference"] == reference
    actions = audit_actions(client)
    for done in (
        "helpline.case_opened",
        "helpline.report_filed",
        "helpline.selfprotect_link_given",
        "helpline.referred_to_police",
        "report.referred",
    ):
        assert done in actions


def test_the_police_read_a_referred_case_summary_and_nothing_more(
    desks: dict[str, Desk],
) -> None:
    counsellor, officer = desks["counsellor"], desks["officer"]
    contact_id = record(counsellor, name="Invented Name", identity_reason="Called back.")
    case_id = open_case(counsellor, contact_id)
    counsellor.post(f"{API}/cases/{case_id}/notes", {"note": "Invented note: parents told."})
    # Not referred yet: the police do not know the case exists.
    assert officer.get(f"{API}/cases/{case_id}").status_code == 404
    referred = counsellor.post(f"{API}/contacts/{contact_id}/police", {"reason": "Grooming."})
    assert referred.status_code == 201
    summary = officer.get(f"{API}/cases/{case_id}").json()
    assert summary["relation"] == "referred_pending"
    assert summary["topics"] == ["sextortion", "online_sexual_abuse"]
    assert summary["contacts"] == [] and summary["events"] == []
    assert "Invented" not in str(summary)
    # The police report carries the facts and the reason, never the summary or the name.
    police_ref = referred.json()["reference"]
    referral_id = referred.json()["referral_id"]
    accepted = officer.post(
        f"{STAFF}/referrals/{referral_id}/answer", {"accept": True, "reason": "Taken on."}
    )
    assert accepted.status_code == 204, accepted.text
    report = officer.get(f"{STAFF}/reports/{police_ref}").json()
    assert "Grooming." in report["description"]
    assert "Invented" not in report["description"]
    assert officer.get(f"{API}/cases/{case_id}").json()["relation"] == "referred"
    # Contacts, notes and the name stay the helpline's.
    assert officer.get(f"{API}/contacts/{contact_id}").status_code == 403
    assert officer.get(f"{API}/contacts/{contact_id}/identity").status_code == 403
    assert officer.post(f"{API}/cases/{case_id}/notes", {"note": "x"}).status_code == 403
    # A police supervisor of the same unit reads the summary too, and holds nothing more.
    assert desks["police_supervisor"].get(f"{API}/cases/{case_id}").status_code == 200
    assert desks["police_supervisor"].get(f"{API}/cases").status_code == 403


def test_other_agencies_see_nothing_of_the_helplines_records(desks: dict[str, Desk]) -> None:
    contact_id = record(desks["counsellor"])
    case_id = open_case(desks["counsellor"], contact_id)
    # Another helpline: the same answer as for a record that does not exist.
    assert desks["other_helpline"].get(f"{API}/contacts/{contact_id}").status_code == 404
    assert desks["other_helpline"].get(f"{API}/cases/{case_id}").status_code == 404
    assert desks["other_helpline"].get(f"{API}/cases").json() == []
    link = desks["other_helpline"].post(f"{API}/contacts/{contact_id}/case", {"case_id": None})
    assert link.status_code == 404
    # The hotline holds no helpline action at all, a supervisor included.
    for name in ("analyst", "hotline_supervisor"):
        assert desks[name].get(f"{API}/cases").status_code == 403
        assert desks[name].post(f"{API}/contacts", SEXTORTION_CALL).status_code == 403
        assert desks[name].get(f"{API}/cases/{case_id}").status_code == 403
    # The helpline's supervisor works the helpline's cases.
    assert desks["supervisor"].get(f"{API}/cases/{case_id}").status_code == 200


def test_linking_a_contact_to_an_open_case_raises_its_risk(desks: dict[str, Desk]) -> None:
    counsellor = desks["counsellor"]
    case_id = open_case(counsellor, record(counsellor, risk="low"))
    second = record(counsellor, risk="immediate", topics=["grooming"])
    linked = counsellor.post(f"{API}/contacts/{second}/case", {"case_id": case_id})
    assert linked.status_code == 200, linked.text
    case = counsellor.get(f"{API}/cases/{case_id}").json()
    assert case["risk"] == "immediate"
    assert len(case["contacts"]) == 2
    again = counsellor.post(f"{API}/contacts/{second}/case", {"case_id": case_id})
    assert again.status_code == 422
    other = open_case(desks["other_helpline"], record(desks["other_helpline"]))
    third = record(counsellor)
    refused = counsellor.post(f"{API}/contacts/{third}/case", {"case_id": other})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "case_id"


def test_the_queue_puts_due_follow_ups_first_then_risk(desks: dict[str, Desk]) -> None:
    counsellor = desks["counsellor"]
    low = open_case(counsellor, record(counsellor, risk="low"))
    high = open_case(counsellor, record(counsellor, risk="high"))
    medium_due = open_case(counsellor, record(counsellor, risk="medium"))
    today = utcnow().date().isoformat()
    later = (utcnow().date() + timedelta(days=3)).isoformat()
    assert (
        counsellor.patch(f"{API}/cases/{medium_due}", {"next_follow_up": today}).status_code == 204
    )
    assert counsellor.patch(f"{API}/cases/{high}", {"next_follow_up": later}).status_code == 204
    queue = counsellor.get(f"{API}/cases").json()
    assert [e["id"] for e in queue] == [medium_due, high, low]
    assert [e["due"] for e in queue] == [True, False, False]
    # Closing takes a case out of the queue; a follow-up in the past is refused.
    assert counsellor.patch(f"{API}/cases/{low}", {"status": "closed"}).status_code == 204
    assert low not in [e["id"] for e in counsellor.get(f"{API}/cases").json()]
    past = counsellor.patch(f"{API}/cases/{high}", {"next_follow_up": "2020-01-01"})
    assert past.status_code == 422
    assert past.json()["detail"][0]["loc"][-1] == "next_follow_up"


def test_a_case_is_assigned_to_a_counsellor_of_the_same_helpline(
    desks: dict[str, Desk],
) -> None:
    counsellor = desks["counsellor"]
    case_id = open_case(counsellor, record(counsellor))
    assert counsellor.patch(f"{API}/cases/{case_id}", {"assignee": "zosia"}).status_code == 204
    assert counsellor.get(f"{API}/cases/{case_id}").json()["assignee"] == "zosia"
    assert [e["id"] for e in desks["colleague"].get(f"{API}/cases?mine=true").json()] == [case_id]
    for stranger in ("inna", "anna", "nobody"):
        refused = counsellor.patch(f"{API}/cases/{case_id}", {"assignee": stranger})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"][-1] == "assignee"


def test_the_directory_of_local_services_is_searched_by_region_and_words(
    desks: dict[str, Desk],
) -> None:
    counsellor = desks["counsellor"]
    found = counsellor.get(f"{API}/services", params={"region": "lodzkie", "q": "lodz"}).json()
    assert found and all(s["region"] in ("lodzkie", "national") for s in found)
    assert all(s["example"] for s in found)
    assert any("Łódź" in s["city"] for s in found)
    refused = counsellor.get(f"{API}/services", params={"region": "atlantis"})
    assert refused.status_code == 422
    case_id = open_case(counsellor, record(counsellor))
    service_id = found[0]["id"]
    done = counsellor.post(f"{API}/cases/{case_id}/services", {"service_id": service_id})
    assert done.status_code == 204
    event = counsellor.get(f"{API}/cases/{case_id}").json()["events"][-1]
    assert event["kind"] == "service" and event["service"]["id"] == service_id
    bad = counsellor.post(f"{API}/cases/{case_id}/services", {"service_id": "nope"})
    assert bad.status_code == 422


def test_filing_a_report_needs_good_links(desks: dict[str, Desk]) -> None:
    counsellor = desks["counsellor"]
    contact_id = record(counsellor)
    bad = counsellor.post(f"{API}/contacts/{contact_id}/reports", {"urls": ["not a link"]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-2:] == ["urls", 0]
    none = counsellor.post(f"{API}/contacts/{contact_id}/reports", {"urls": []})
    assert none.status_code == 422
    no_reason = counsellor.post(f"{API}/contacts/{contact_id}/police", {"reason": "   "})
    assert no_reason.status_code == 422
