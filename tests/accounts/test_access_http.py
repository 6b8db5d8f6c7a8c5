"""The access matrix through HTTP: agencies side by side, each sees exactly what the rules allow.

The hotline owns three reports: the first is referred to the police (pending), the
second was referred to the helpline, which declined it, the third was referred to the
police, which accepted it. Each person of each role an
agency may have then calls every report-level API operation on both reports, the
queue, the figures and three pages; each answer must be what ``permits`` says for
that person's relation to the report:

- allowed: the operation's success status (valid bodies, so no refusal is expected);
- the report not visible to them (no summary read for that relation): 404;
- visible but not this action, or the role holds the action for no relation at all: 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

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
from tarcza.intake.models import Evidence, Report
from tests.cases.test_casework_api import Desk, submit
from tests.support.staff import AGENCY_KINDS, add_agencies, add_staff, context

STAFF = "/api/v1/staff"
PENDING, DECLINED, ACCEPTED = "pending", "declined", "accepted"
# Each report's relation to each agency (any agency not named: other). A declined
# referral gives the helpline nothing; a pending one gives the police the summary only.
RELATIONS: dict[str, dict[str, Relation]] = {
    PENDING: {"hotline": Relation.OWN, "police": Relation.REFERRED_PENDING},
    DECLINED: {"hotline": Relation.OWN},
    ACCEPTED: {"hotline": Relation.OWN, "police": Relation.REFERRED},
}
# Where a person refers each report (an agency that works cases, not yet asked).
REFER_TO = {PENDING: "helpline", DECLINED: "police", ACCEPTED: "helpline"}
PEOPLE = [
    (agency, role)
    for agency, kind in AGENCY_KINDS.items()
    for role in Role
    if role in ROLES_OF_KIND[kind]
]


@dataclass(frozen=True)
class Record:
    reference: str
    evidence_id: int
    referral_id: int


def setup_person(agency: str, kind: AgencyKind, role: Role) -> Principal:
    """Someone who sets the scene through the service (no session needed)."""
    return Principal(0, f"setup-{agency}", agency, kind, role, mfa_passed=True)


def evidence_of(client: TestClient, reference: str) -> int:
    with context(client).db.sessions() as session:
        return session.scalars(
            select(Evidence.id).join(Report).where(Report.reference == reference)
        ).one()


def scene(client: TestClient) -> dict[str, Record]:
    """The agencies, and the three reports of the hotline with their referrals."""
    ctx = context(client)
    add_agencies(ctx)
    hotline = setup_person("hotline", AgencyKind.HOTLINE, Role.ANALYST)
    helpline = setup_person("helpline", AgencyKind.HELPLINE, Role.COUNSELLOR)
    police = setup_person("police", AgencyKind.POLICE, Role.OFFICER)
    pending, declined = submit(client)["reference"], submit(client)["reference"]
    accepted = submit(client)["reference"]
    to_police = ctx.cases.refer(hotline, pending, "police", "Threats to a child")
    to_helpline = ctx.cases.refer(hotline, declined, "helpline", "The child needs support")
    ctx.cases.answer(helpline, to_helpline, False, "Not ours")
    taken = ctx.cases.refer(hotline, accepted, "police", "Threats to a child")
    ctx.cases.answer(police, taken, True, "We take it")
    return {
        PENDING: Record(pending, evidence_of(client, pending), to_police),
        DECLINED: Record(declined, evidence_of(client, declined), to_helpline),
        ACCEPTED: Record(accepted, evidence_of(client, accepted), taken),
    }


def expected_status(me: Principal, action: Action, relation: Relation | None, ok: int) -> int:
    """What the rules say the answer is (``relation`` None: no record, the person's own scope)."""
    if not holds(me, action):
        return 403
    if relation is None:
        return ok if permits(me, action, Relation.OWN) else 403
    if not permits(me, Action.REPORT_SUMMARY_READ, relation):
        return 404
    return ok if permits(me, action, relation) else 403


class Checks:
    """Collects every wrong answer, so one failure lists them all."""

    def __init__(self, me: Principal) -> None:
        self.me = me
        self.wrong: list[str] = []

    def answer(
        self,
        name: str,
        response: httpx.Response,
        action: Action,
        relation: Relation | None,
        ok: int = 200,
    ) -> bool:
        """Whether ``response`` is as expected (noted if not) and a success."""
        want = expected_status(self.me, action, relation, ok)
        if response.status_code != want:
            self.wrong.append(f"{name}: {response.status_code}, expected {want}")
        return response.status_code == want == ok

    def equal(self, name: str, got: Any, want: Any) -> None:
        if got != want:
            self.wrong.append(f"{name}: {got!r}, expected {want!r}")


def member_id(pair: tuple[str, Role]) -> str:
    return f"{pair[1]}@{pair[0]}"


@pytest.mark.parametrize("member", PEOPLE, ids=member_id)
def test_each_person_gets_exactly_what_the_rules_allow(
    client: TestClient, member: tuple[str, Role]
) -> None:
    agency, role = member
    records = scene(client)
    user = add_staff(context(client), agency, role, f"{role.value}.{agency}")
    desk = Desk(client, user)
    me = Principal(0, user.username, agency, AGENCY_KINDS[agency], role, mfa_passed=True)
    relation = {key: RELATIONS[key].get(agency, Relation.OTHER) for key in records}
    visible = {
        records[key].reference
        for key, rel in relation.items()
        if permits(me, Action.REPORT_SUMMARY_READ, rel)
    }
    check = Checks(me)

    # What has no record: the queue (with exactly the reports they see) and the figures.
    queue = desk.get(f"{STAFF}/reports")
    if check.answer("GET queue", queue, Action.REPORT_QUEUE_LIST, None):
        check.equal("queue", {i["reference"] for i in queue.json()}, visible)
    stats = desk.get(f"{STAFF}/stats")
    stats_page = desk.get("/staff/stats", follow_redirects=False)
    if me.agency_kind is AgencyKind.COORDINATOR:  # unsuppressed counts: the national figures
        check.equal("GET stats", stats.status_code, 403)
        want = 303 if holds(me, Action.STATS_AGGREGATE_READ) else 403  # 303: /staff/national
        check.equal("page stats", stats_page.status_code, want)
    else:
        check.answer("GET stats", stats, Action.STATS_AGGREGATE_READ, None)
        check.answer("page stats", stats_page, Action.STATS_AGGREGATE_READ, None)
    page = desk.get("/staff/queue", follow_redirects=False)
    if check.answer("page queue", page, Action.REPORT_QUEUE_LIST, None):
        listed = {r.reference for r in records.values() if r.reference in page.text}
        check.equal("queue page", listed, visible)

    for key, record in records.items():
        rel, ref, eid = relation[key], record.reference, record.evidence_id
        page = desk.get(f"/staff/reports/{ref}", follow_redirects=False)
        check.answer(f"page report {key}", page, Action.REPORT_SUMMARY_READ, rel)

        got = desk.get(f"{STAFF}/reports/{ref}")
        if check.answer(f"GET report {key}", got, Action.REPORT_SUMMARY_READ, rel):
            body = got.json()
            check.equal(f"relation {key}", body["relation"], rel.value)
            personal = permits(me, Action.REPORT_PERSONAL_READ, rel)
            check.equal(f"personal data {key}", body["description"] is not None, personal)
            check.equal(f"contact {key}", body["contact"] is not None, personal)
            # A report lists the actions on reports (the helpline's are on its own records).
            allowed = sorted(
                a.value
                for a in Action
                if permits(me, a, rel) and not a.value.startswith("helpline:")
            )
            check.equal(f"allowed {key}", body["allowed"], allowed)

        got = desk.get(f"{STAFF}/evidence/{eid}/preview")
        if check.answer(f"GET preview {key}", got, Action.EVIDENCE_PREVIEW_READ, rel):
            check.equal(f"preview type {key}", got.headers["content-type"], "image/png")

        got = desk.post(
            f"{STAFF}/reports/{ref}/status", {"status": "in_assessment", "reason": "Looking"}
        )
        check.answer(f"POST status {key}", got, Action.REPORT_STATUS_CHANGE, rel)

        got = desk.post(f"{STAFF}/reports/{ref}/assignment", {"assignee": user.username})
        check.answer(f"POST assignment {key}", got, Action.REPORT_ASSIGNMENT_CHANGE, rel, 204)

        got = desk.post(
            f"{STAFF}/reports/{ref}/referrals", {"to_agency": REFER_TO[key], "reason": "Yours too"}
        )
        check.answer(f"POST referral {key}", got, Action.REPORT_REFERRAL_CREATE, rel, 201)

        got = desk.post(f"{STAFF}/evidence/{eid}/reveal", {"reason": "Classify the image"})
        check.answer(f"POST reveal {key}", got, Action.EVIDENCE_IMAGE_REVEAL, rel)

        got = desk.post(
            f"{STAFF}/referrals/{record.referral_id}/answer",
            {"accept": True, "reason": "We take it"},
        )
        check.answer(f"POST referral answer {key}", got, Action.REFERRAL_ANSWER, rel, 204)

    if check.wrong:
        pytest.fail(f"{member_id(member)} got:\n" + "\n".join(check.wrong), pytrace=False)


def test_the_people_cover_every_role_and_every_agency() -> None:
    assert {role for _, role in PEOPLE} == set(Role)
    assert {agency for agency, _ in PEOPLE} == set(AGENCY_KINDS)
    # And the scene gives someone each relation: own, referred_pending, referred and other.
    relations = {
        RELATIONS[key].get(agency, Relation.OTHER) for key in RELATIONS for agency, _ in PEOPLE
    }
    assert relations == set(Relation)
