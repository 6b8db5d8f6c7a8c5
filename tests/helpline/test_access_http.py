"""The helpline's part of the access matrix through HTTP: each person of each role an agency may
have calls the helpline's operations, and each answer is what ``permits`` says.

The helpline owns three cases: one referred to the police and waiting for an answer, one the
police accepted, one with nobody else. The relation of a case to the person's agency: own for
the helpline, referred_pending / referred for the police on the two referred cases, other
otherwise; a contact is own to the helpline and other to everyone else. The answer:

- allowed: the operation's success status;
- the record not visible (no summary read, for a contact no contact read): 404;
- visible but not this action, or the role holds the action for no relation at all: 403.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import (
    ROLES_OF_KIND,
    Action,
    AgencyKind,
    Principal,
    Relation,
    Role,
    holds,
    permits,
)
from tarcza.helpline.service import NewContact
from tests.cases.test_casework_api import Desk
from tests.support.staff import AGENCY_KINDS, add_agencies, add_staff, context

API = "/api/v1/helpline"
PENDING, ACCEPTED, ALONE = "pending", "accepted", "alone"
PEOPLE = [
    (agency, role)
    for agency, kind in AGENCY_KINDS.items()
    for role in Role
    if role in ROLES_OF_KIND[kind]
]
CALL = NewContact(
    channel="phone",
    caller="child",
    age_band="13_15",
    topics=["sextortion"],
    risk="high",
    summary="Invented summary.",
    name="Invented Name",
    identity_reason="Call back.",
)


def relation_of_case(agency: str, case: str) -> Relation:
    if agency == "helpline":
        return Relation.OWN
    if agency == "police" and case == PENDING:
        return Relation.REFERRED_PENDING
    if agency == "police" and case == ACCEPTED:
        return Relation.REFERRED
    return Relation.OTHER


def expected(
    me: Principal, action: Action, relation: Relation | None, ok: int, seen_by: Action
) -> int:
    if not holds(me, action):
        return 403
    if relation is None:
        return ok if permits(me, action, Relation.OWN) else 403
    if not permits(me, seen_by, relation):
        return 404
    return ok if permits(me, action, relation) else 403


def scene(client: TestClient) -> dict[str, tuple[int, int]]:
    """Three cases of the helpline, each with its contact: (case id, contact id)."""
    ctx = context(client)
    add_agencies(ctx)
    kasia = Principal(0, "setup", "helpline", AgencyKind.HELPLINE, Role.COUNSELLOR, True)
    police = Principal(0, "setup-police", "police", AgencyKind.POLICE, Role.OFFICER, True)
    made = {}
    for name in (PENDING, ACCEPTED, ALONE):
        contact = ctx.helpline.record_contact(kasia, CALL)
        made[name] = (ctx.helpline.open_case(kasia, contact), contact)
    ctx.helpline.refer_to_police(kasia, "Threats.", case_id=made[PENDING][0])
    taken = ctx.helpline.refer_to_police(kasia, "Threats.", case_id=made[ACCEPTED][0])
    assert taken.referral_id is not None
    ctx.cases.answer(police, taken.referral_id, True, "We take it")
    return made


@pytest.mark.parametrize("member", PEOPLE, ids=lambda m: f"{m[1]}@{m[0]}")
def test_each_person_gets_exactly_what_the_helpline_rules_allow(
    client: TestClient, member: tuple[str, Role]
) -> None:
    agency, role = member
    made = scene(client)
    desk = Desk(client, add_staff(context(client), agency, role))
    me = Principal(0, desk.user.username, agency, AGENCY_KINDS[agency], role, True)
    wrong: list[str] = []

    def check(name: str, status: int, want: int) -> None:
        if status != want:
            wrong.append(f"{name}: {status}, expected {want}")

    for case_name, (case_id, contact_id) in made.items():
        rel = relation_of_case(agency, case_name)
        summary = Action.HELPLINE_SUMMARY_READ
        check(
            f"GET case {case_name}",
            desk.get(f"{API}/cases/{case_id}").status_code,
            expected(me, summary, rel, 200, summary),
        )
        check(
            f"page case {case_name}",
            desk.get(f"/staff/helpline/cases/{case_id}", follow_redirects=False).status_code,
            expected(me, summary, rel, 200, summary),
        )
        note = desk.post(f"{API}/cases/{case_id}/notes", {"note": "Invented note."})
        check(
            f"POST note {case_name}",
            note.status_code,
            expected(me, Action.HELPLINE_CASE_WORK, rel, 204, summary),
        )
        change = desk.client.patch(
            f"{API}/cases/{case_id}", json={"risk": "medium"}, headers={"X-CSRF-Token": desk.csrf}
        )
        check(
            f"PATCH case {case_name}",
            change.status_code,
            expected(me, Action.HELPLINE_CASE_WORK, rel, 204, summary),
        )
        # A contact is the helpline's own, and nobody else's.
        crel = Relation.OWN if agency == "helpline" else Relation.OTHER
        seen = Action.HELPLINE_CONTACT_READ
        for name, status, action, ok in (
            ("GET contact", desk.get(f"{API}/contacts/{contact_id}").status_code, seen, 200),
            (
                "GET identity",
                desk.get(f"{API}/contacts/{contact_id}/identity").status_code,
                Action.HELPLINE_IDENTITY_READ,
                200,
            ),
            (
                "POST selfprotect",
                desk.post(f"{API}/contacts/{contact_id}/selfprotect").status_code,
                Action.HELPLINE_CONTACT_RECORD,
                200,
            ),
        ):
            check(f"{name} {case_name}", status, expected(me, action, crel, ok, seen))

    # Actions on no record yet: the person's own scope.
    for name, status, action, ok in (
        ("GET queue", desk.get(f"{API}/cases").status_code, Action.HELPLINE_CASE_READ, 200),
        (
            "GET services",
            desk.get(f"{API}/services").status_code,
            Action.HELPLINE_DIRECTORY_READ,
            200,
        ),
        (
            "POST contact",
            desk.post(
                f"{API}/contacts",
                {
                    "channel": "chat",
                    "caller": "parent",
                    "age_band": "unknown",
                    "topics": ["grooming"],
                    "risk": "low",
                    "summary": "Invented.",
                },
            ).status_code,
            Action.HELPLINE_CONTACT_RECORD,
            201,
        ),
        (
            "page home",
            desk.get("/staff/helpline", follow_redirects=False).status_code,
            Action.HELPLINE_CASE_READ,
            200,
        ),
    ):
        check(name, status, expected(me, action, None, ok, action))
    assert not wrong, "\n".join(wrong)
