"""The whole access matrix: every role x every action x (own / referred / other agency).

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
    permits,
)

CASEWORK = {
    "report:queue:list": "own",
    "report:summary:read": "own referred",
    "report:personal:read": "own referred",
    "evidence:preview:read": "own referred",
    "report:status:change": "own referred",
    "report:assignment:change": "own referred",
    "report:referral:create": "own referred",
    "referral:answer:decide": "referred",
}
EXPECTED: dict[Role, dict[str, str]] = {
    Role.ANALYST: {**CASEWORK, "evidence:image:reveal": "own referred"},
    Role.OFFICER: {**CASEWORK, "evidence:image:reveal": "own referred"},
    Role.COUNSELLOR: dict(CASEWORK),  # never sees an image unblurred
    Role.SUPERVISOR: {
        **CASEWORK,
        "evidence:image:reveal": "own referred",
        "stats:aggregate:read": "own",
    },
    Role.COORDINATOR: {"stats:aggregate:read": "own"},
    Role.ADMINISTRATOR: {"user:account:manage": "own"},
    Role.AUDITOR: {"audit:log:search": "own", "audit:log:export": "own"},
    Role.PLATFORM: {"hash:match:query": "own"},
}


def kind_of(role: Role) -> AgencyKind:
    """An agency kind that may have people in ``role``."""
    return next(kind for kind in AgencyKind if role in ROLES_OF_KIND[kind])


def person(role: Role, *, mfa: bool = True, kind: AgencyKind | None = None) -> Principal:
    return Principal(1, "someone", "agency", kind or kind_of(role), role, mfa)


@pytest.mark.parametrize("relation", list(Relation), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_matrix(role: Role, action: Action, relation: Relation) -> None:
    expected = relation.value in EXPECTED[role].get(action.value, "").split()
    assert permits(person(role), action, relation) is expected


def test_the_expected_table_names_only_real_actions() -> None:
    names = {a.value for a in Action}
    for grants in EXPECTED.values():
        assert set(grants) <= names


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_nothing_without_the_second_factor(role: Role) -> None:
    assert not any(
        permits(person(role, mfa=False), action, relation)
        for action in Action
        for relation in Relation
    )
    assert not any(permits(None, action, relation) for action in Action for relation in Relation)


def test_a_role_foreign_to_the_agency_kind_holds_nothing() -> None:
    analyst_at_police = person(Role.ANALYST, kind=AgencyKind.POLICE)
    assert not any(permits(analyst_at_police, a, r) for a in Action for r in Relation)


def test_permission_names_are_sorted_scope_resource_action() -> None:
    names = [a.value for a in Action]
    assert names == sorted(names)
    assert all(re.fullmatch(r"[a-z]+:[a-z]+:[a-z]+", n) for n in names)
