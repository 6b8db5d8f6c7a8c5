"""The whole access matrix: every role x every action x relation.

The relations: own, referred_pending (asked, not yet answered), referred (accepted), other.

The expected answers are written out here, apart from the rules' own table, so a
change to who may do what must change this test too.
"""

from __future__ import annotations

import re

import pytest

from tarcza.accounts.permissions import (
    ROLES_OF_KIND,
    Action,
    AgencyKind,
    Principal,
    Relation,
    Role,
    holds,
    permits,
    relation_of,
    role_allowed,
)

# What someone working reports holds: their agency's reports and those it accepted from
# another agency; an agency asked but not yet answering ("referred_pending") reads the
# summary it decides on and answers, nothing more; only the owner refers a report on;
# the queue is their own agency's.
CASEWORK = {
    "report:queue:list": "own",
    "report:summary:read": "own referred_pending referred",
    "report:personal:read": "own referred",
    "evidence:preview:read": "own referred",
    "report:status:change": "own referred",
    "report:assignment:change": "own referred",
    "report:message:send": "own referred",
    "report:referral:create": "own",
    "referral:answer:decide": "referred_pending",
}
# Content items belong to the hotline; only its own analysts and supervisors work them.
HOTLINE = {"hotline:item:read": "own", "hotline:item:assess": "own"}
# The police's own work on a report it accepted: the evidence package and the outcome.
POLICE = {"evidence:package:export": "referred", "referral:outcome:record": "referred"}
# The child helpline's contacts and cases are its own: only its counsellors and supervisors
# work them (ONLY_KINDS below); a police unit a case was referred to reads its summary,
# asked or accepted, and nothing else of it.
HELPLINE = {
    "helpline:contact:record": "own",
    "helpline:contact:read": "own",
    "helpline:identity:read": "own",
    "helpline:case:read": "own",
    "helpline:case:work": "own",
    "helpline:report:file": "own",
    "helpline:police:refer": "own",
    "helpline:directory:read": "own",
    "helpline:summary:read": "own",
}
# A child in danger now: everyone who follows the report sees the one alert state (owner,
# the helpline that filed it, the duty desk asked or working it); the duty desk acknowledges.
ALERTS = {"alert:danger:read": "own referred_pending referred"}
ACKNOWLEDGE = {"alert:danger:acknowledge": "referred_pending referred"}
# The MNR tracker: the programme's working staff read it all and update the capabilities their
# agency is responsible for ("own"); the coordinator also manages the whole tracker.
MNR = {"mnr:tracker:read": "own", "mnr:progress:update": "own"}
# Held only by people of these kinds of agency (a hotline's supervisor holds neither of the
# police's; a hotline's or a police unit's supervisor none of the helpline's but the summary).
ONLY_KINDS = {
    "alert:danger:acknowledge": {AgencyKind.POLICE},
    "evidence:package:export": {AgencyKind.POLICE},
    "referral:outcome:record": {AgencyKind.POLICE},
    **{name: {AgencyKind.HELPLINE} for name in HELPLINE},
    "helpline:summary:read": {AgencyKind.HELPLINE, AgencyKind.POLICE},
    "mnr:tracker:manage": {AgencyKind.COORDINATOR},
}
EXPECTED: dict[Role, dict[str, str]] = {
    Role.ANALYST: {
        **CASEWORK,
        **ALERTS,
        **HOTLINE,
        **MNR,
        "evidence:image:reveal": "own referred",
    },
    Role.OFFICER: {
        **CASEWORK,
        **ALERTS,
        **ACKNOWLEDGE,
        **POLICE,
        **MNR,
        "evidence:image:reveal": "own referred",
        "helpline:summary:read": "referred_pending referred",
    },
    Role.COUNSELLOR: {**CASEWORK, **ALERTS, **HELPLINE, **MNR},  # never sees an image unblurred
    Role.SUPERVISOR: {
        **CASEWORK,
        **ALERTS,
        **ACKNOWLEDGE,
        **MNR,
        **HOTLINE,
        **POLICE,
        **HELPLINE,
        "helpline:summary:read": "own referred_pending referred",
        "evidence:image:reveal": "own referred",
        "stats:aggregate:read": "own",
        "hotline:stats:read": "own",
        # held self-protection hashes: "own" is the agency that runs the intake (the hotline)
        "selfprotect:hash:review": "own",
    },
    Role.COORDINATOR: {
        "stats:aggregate:read": "own",
        "hotline:stats:read": "own",
        **MNR,
        "mnr:tracker:manage": "own",
    },  # aggregates, never a person's data
    Role.ADMINISTRATOR: {"user:account:manage": "own"},
    Role.AUDITOR: {"audit:log:search": "own", "audit:log:export": "own"},
    Role.PLATFORM: {"hash:match:query": "own"},
}
EXPECTED_ROLES: dict[AgencyKind, set[Role]] = {
    AgencyKind.HOTLINE: {Role.ANALYST, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR},
    AgencyKind.HELPLINE: {Role.COUNSELLOR, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR},
    AgencyKind.POLICE: {Role.OFFICER, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR},
    AgencyKind.COORDINATOR: {Role.COORDINATOR, Role.ADMINISTRATOR, Role.AUDITOR},
    AgencyKind.PLATFORM: {Role.PLATFORM, Role.ADMINISTRATOR},
}
MEMBERS = [(kind, role) for kind in AgencyKind for role in Role if role in EXPECTED_ROLES[kind]]
STRANGERS = [
    (kind, role) for kind in AgencyKind for role in Role if role not in EXPECTED_ROLES[kind]
]


def person(role: Role, kind: AgencyKind, *, mfa: bool = True) -> Principal:
    return Principal(1, "someone", "agency", kind, role, mfa)


def expected(role: Role, action: Action, relation: Relation, kind: AgencyKind) -> bool:
    if kind not in ONLY_KINDS.get(action.value, set(AgencyKind)):
        return False
    return relation.value in EXPECTED[role].get(action.value, "").split()


def member_id(pair: tuple[AgencyKind, Role]) -> str:
    return f"{pair[1]}@{pair[0]}"


@pytest.mark.parametrize("relation", list(Relation), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("member", MEMBERS, ids=member_id)
def test_matrix(member: tuple[AgencyKind, Role], action: Action, relation: Relation) -> None:
    kind, role = member
    assert permits(person(role, kind), action, relation) is expected(role, action, relation, kind)


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("member", MEMBERS, ids=member_id)
def test_holding_an_action_is_holding_it_for_some_relation(
    member: tuple[AgencyKind, Role], action: Action
) -> None:
    kind, role = member
    assert holds(person(role, kind), action) is any(
        expected(role, action, relation, kind) for relation in Relation
    )


def test_the_expected_tables_name_every_role_and_kind_and_only_real_actions() -> None:
    assert set(EXPECTED) == set(Role)
    assert set(EXPECTED_ROLES) == set(AgencyKind)
    names = {a.value for a in Action}
    for grants in EXPECTED.values():
        assert set(grants) <= names
        assert all(set(r.split()) <= {r.value for r in Relation} for r in grants.values())


def test_which_roles_each_kind_of_agency_has() -> None:
    assert {kind: set(roles) for kind, roles in ROLES_OF_KIND.items()} == EXPECTED_ROLES
    for kind in AgencyKind:
        for role in Role:
            assert role_allowed(kind, role) is (role in EXPECTED_ROLES[kind])


@pytest.mark.parametrize("member", MEMBERS, ids=member_id)
def test_nothing_without_the_second_factor(member: tuple[AgencyKind, Role]) -> None:
    kind, role = member
    half_signed_in = person(role, kind, mfa=False)
    assert not any(permits(half_signed_in, a, r) for a in Action for r in Relation)
    assert not any(holds(half_signed_in, a) for a in Action)


def test_nothing_without_a_person() -> None:
    assert not any(permits(None, a, r) for a in Action for r in Relation)
    assert not any(holds(None, a) for a in Action)


@pytest.mark.parametrize("stranger", STRANGERS, ids=member_id)
def test_a_role_foreign_to_the_agency_kind_holds_nothing(
    stranger: tuple[AgencyKind, Role],
) -> None:
    kind, role = stranger  # e.g. an analyst in a police agency
    assert not any(permits(person(role, kind), a, r) for a in Action for r in Relation)


def test_nobody_but_the_receiving_agency_answers_a_referral() -> None:
    for kind, role in MEMBERS:
        for relation in (Relation.OWN, Relation.REFERRED, Relation.OTHER):
            assert not permits(person(role, kind), Action.REFERRAL_ANSWER, relation)


def test_an_agency_still_deciding_reads_the_summary_and_answers_nothing_more() -> None:
    for kind, role in MEMBERS:
        held = {a for a in Action if permits(person(role, kind), a, Relation.REFERRED_PENDING)}
        assert held <= {
            Action.REPORT_SUMMARY_READ,
            Action.REFERRAL_ANSWER,
            Action.HELPLINE_SUMMARY_READ,
            # A child in danger now: the duty desk acknowledges before it decides.
            Action.ALERT_DANGER_READ,
            Action.ALERT_DANGER_ACKNOWLEDGE,
        }


def test_only_the_owner_refers_a_report_on() -> None:
    for kind, role in MEMBERS:
        for relation in (Relation.REFERRED_PENDING, Relation.REFERRED, Relation.OTHER):
            assert not permits(person(role, kind), Action.REPORT_REFERRAL_CREATE, relation)


def test_nobody_acts_on_another_agencys_record() -> None:
    for kind, role in MEMBERS:
        for action in Action:
            assert not permits(person(role, kind), action, Relation.OTHER)


def test_only_a_helplines_people_work_its_contacts_and_cases() -> None:
    for kind, role in MEMBERS:
        for name in HELPLINE:
            action = Action(name)
            if kind is AgencyKind.HELPLINE and role in (Role.COUNSELLOR, Role.SUPERVISOR):
                assert permits(person(role, kind), action, Relation.OWN), (kind, role, name)
            elif action is not Action.HELPLINE_SUMMARY_READ:
                # a hotline's or a police unit's supervisor holds none of them
                assert not holds(person(role, kind), action), (kind, role, name)


HELPLINE_ACTIONS = [a for a in Action if a.value.startswith("helpline:")]


def test_the_police_read_a_referred_helpline_case_summary_and_nothing_else_of_it() -> None:
    officer = person(Role.OFFICER, AgencyKind.POLICE)
    for relation in (Relation.REFERRED_PENDING, Relation.REFERRED):
        held = {a for a in HELPLINE_ACTIONS if permits(officer, a, relation)}
        assert held == {Action.HELPLINE_SUMMARY_READ}
    analyst = person(Role.ANALYST, AgencyKind.HOTLINE)
    assert not any(permits(analyst, a, r) for a in HELPLINE_ACTIONS for r in Relation)


def test_relation_of_a_record() -> None:
    police, none = frozenset({"police"}), frozenset[str]()
    assert relation_of("hotline", "hotline", police) is Relation.OWN
    assert relation_of("police", "hotline", police) is Relation.REFERRED
    assert relation_of("police", "hotline", none, police) is Relation.REFERRED_PENDING
    assert relation_of("police", "hotline", police, police) is Relation.REFERRED
    assert relation_of("helpline", "hotline", police, police) is Relation.OTHER
    assert relation_of("helpline", "hotline", none) is Relation.OTHER


def test_permission_names_are_sorted_scope_resource_action() -> None:
    names = [a.value for a in Action]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z]+:[a-z]+:[a-z]+", n) for n in names)


def test_only_the_police_takes_an_evidence_package_or_records_an_outcome() -> None:
    police_only = (Action.EVIDENCE_PACKAGE_EXPORT, Action.REFERRAL_OUTCOME_RECORD)
    for kind, role in MEMBERS:
        for action in police_only:
            held = {r for r in Relation if permits(person(role, kind), action, r)}
            police_caseworker = kind is AgencyKind.POLICE and role in (
                Role.OFFICER,
                Role.SUPERVISOR,
            )
            assert held == ({Relation.REFERRED} if police_caseworker else set()), (kind, role)


def test_no_person_level_record_reaches_the_coordinators_role() -> None:
    """The coordinator holds aggregates and the MNR tracker (no person's data in it) only."""
    coordinator = person(Role.COORDINATOR, AgencyKind.COORDINATOR)
    held = {a for a in Action if holds(coordinator, a)}
    assert held == {
        Action.STATS_AGGREGATE_READ,
        Action.HOTLINE_STATS_READ,
        Action.MNR_TRACKER_READ,
        Action.MNR_PROGRESS_UPDATE,
        Action.MNR_TRACKER_MANAGE,
    }


def test_only_the_coordinator_manages_the_mnr_tracker() -> None:
    for kind, role in MEMBERS:
        manages = holds(person(role, kind), Action.MNR_TRACKER_MANAGE)
        assert manages is (kind is AgencyKind.COORDINATOR and role is Role.COORDINATOR)
