"""Property-based tests of the staff and audit API, signed in (schemathesis).

The same checks as tests/api/test_schemathesis.py, on the operations under
/api/v1/staff, /api/v1/audit and /api/v1/mnr: a hotline supervisor (who holds the most report
actions) calls the staff API, an auditor the audit API and the ministry's coordinator (who
edits all of the MNR tracker) the tracker's API, each with their session cookie and CSRF
token; a few reports and tracker actions exist, and generated references and ids often name
them, so the fuzzing reaches the work on real records and not only 404s.
Every answer must be no server error, a documented status code and content type,
and a body of the documented schema.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import Case
from schemathesis.checks import CheckContext
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from sqlalchemy import select, update

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.cases.pages import REFUSALS
from tarcza.config import Settings
from tarcza.intake.models import Evidence, Report
from tarcza.mnr.pages import REFUSALS as MNR_REFUSALS
from tarcza.mnr.views import NewAction
from tarcza.store.engine import Database
from tests.api.test_schemathesis import REJECTIONS, _openapi_document
from tests.cases.test_casework_api import submit
from tests.support.app import make_app
from tests.support.staff import add_agencies, add_staff, context, sign_in

MAX_EXAMPLES = int(os.environ.get("TARCZA_FUZZ_EXAMPLES", "40"))
STAFF_PATHS = r"^/api/v1/(staff|audit|mnr)/"
# Valid input may still be refused by a rule the document cannot state (a status the
# workflow does not allow from the current one, an unknown colleague): 422, naming the rule.
ACCEPTANCE = ["2xx", "403", "404", "422"]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {
            "negative_data_rejection": {"expected-statuses": REJECTIONS},
            "positive_data_acceptance": {"expected-statuses": ACCEPTANCE},
        },
    }
)
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG).include(
    path_regex=STAFF_PATHS
)
RULE_CODES = frozenset(REFUSALS) | frozenset(MNR_REFUSALS)
COOKIE = "tarcza_staff"  # the development name (settings.env is "development" here)


@dataclass(frozen=True)
class Desk:
    token: str
    csrf: str


@dataclass(frozen=True)
class World:
    app: FastAPI
    supervisor: Desk
    auditor: Desk
    coordinator: Desk
    pools: dict[str, list[Any]]  # parameter or field -> values naming real records and people


def _desk(app: FastAPI, agency: str, role: Role, username: str) -> Desk:
    client = TestClient(app, base_url="http://127.0.0.1")
    csrf = sign_in(client, add_staff(context(client), agency, role, username))
    token = client.cookies.get(COOKIE)
    assert token
    return Desk(token, csrf)


@pytest.fixture
def world(settings: Settings, db: Database) -> Iterator[World]:
    """The app with agencies, a supervisor and an auditor signed in, and three reports.

    Two reports are the hotline's (one referred to the police); the third is the
    police's, referred to the hotline, so the supervisor has a referral to answer.
    """
    app = make_app(settings, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ctx = context(client)
        add_agencies(ctx)
        supervisor = _desk(app, "hotline", Role.SUPERVISOR, "szef")
        auditor = _desk(app, "hotline", Role.AUDITOR, "audytor")
        coordinator = _desk(app, "ministry", Role.COORDINATOR, "ola")
        add_staff(ctx, "hotline", Role.ANALYST, "anna")  # a colleague to assign to
        refs = [submit(client)["reference"] for _ in range(3)]
        with ctx.db.transaction() as session:
            session.execute(
                update(Report).where(Report.reference == refs[2]).values(owner_agency="police")
            )
        hotline = Principal(0, "setup", "hotline", AgencyKind.HOTLINE, Role.ANALYST, True)
        police = Principal(0, "setup", "police", AgencyKind.POLICE, Role.OFFICER, True)
        referrals = [
            ctx.cases.refer(hotline, refs[1], "police", "Threats to a child"),
            ctx.cases.refer(police, refs[2], "hotline", "Please assess the material"),
        ]
        ministry = Principal(0, "setup", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, True)
        actions = [
            ctx.mnr.add_action(ministry, 4, NewAction("Train 40 investigators", "police", due)).id
            for due in ("2020-01-31", "2027-06-30")
        ]
        with ctx.db.sessions() as session:
            evidence = list(
                session.scalars(select(Evidence.id).join(Report).where(Report.reference.in_(refs)))
            )
        yield World(
            app,
            supervisor,
            auditor,
            coordinator,
            {
                "reference": refs,
                "evidence_id": evidence,
                "referral_id": referrals,
                # Every kind of agency (some refused: the hotline itself, the ministry).
                "to_agency": ["police", "helpline", "hotline", "ministry", "platform-x"],
                "assignee": ["anna", "szef", "audytor"],
                # The tracker: real actions, domains, responsible agencies and owners.
                "action_id": actions,
                "code": ["policy", "justice", "media"],
                "agencies": [["police"], ["hotline", "helpline"], []],
                "owner": ["police", "hotline"],
            },
        )


def aim_at_real_records(case: Case[Any], pools: dict[str, list[Any]]) -> None:
    """Most valid references, ids and names become those of real records and people.

    Only a valid value is replaced, with another valid one, so a case stays as valid or
    invalid as it was drawn; the choice follows the drawn value, so a failure replays.
    """
    _aim(case.path_parameters, pools, PATH_VALID)
    if isinstance(case.body, dict):
        _aim(case.body, pools, BODY_VALID)


def _aim(values: dict[str, Any] | None, pools: dict[str, list[Any]], valid: dict[str, Any]) -> None:
    for name, value in list((values or {}).items()):
        pool, is_valid = pools.get(name), valid.get(name)
        if not pool or is_valid is None or not is_valid(value):
            continue
        pick = zlib.crc32(repr(value).encode())
        if pick % 4:
            values[name] = pool[pick % len(pool)]  # type: ignore[index]


def _text(pattern: str) -> Any:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _row_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63


PATH_VALID = {
    "reference": _text(r"TZ-[0-9A-Z]{4}-[0-9A-Z]{4}"),
    "evidence_id": _row_id,
    "referral_id": _row_id,
    "action_id": _row_id,
    "code": _text(r"[a-z]{1,16}"),
}
BODY_VALID = {
    "to_agency": _text(r"[a-z][a-z0-9-]{1,31}"),
    "assignee": _text(r"[a-z0-9][a-z0-9._-]{1,39}"),
    "agencies": lambda value: (
        isinstance(value, list)
        and len(value) <= 12
        and all(isinstance(v, str) and 1 <= len(v) <= 32 for v in value)
    ),
    "owner": _text(r"\S.{0,119}"),
}


def refusals_name_a_casework_rule(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Valid input refused (422) must be refused by a casework rule, not by the validation."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    detail = response.json().get("detail")
    types = {d.get("type") for d in detail} if isinstance(detail, list) else {None}
    assert types <= RULE_CODES, f"valid input refused by the validation: {detail}"


@schema.parametrize()
@hypothesis_settings(
    deadline=None,
    max_examples=MAX_EXAMPLES,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_staff_operation_answers_as_documented_and_never_fails(
    case: Case[Any], world: World
) -> None:
    aim_at_real_records(case, world.pools)
    desk = (
        world.auditor
        if case.path.startswith("/api/v1/audit/")
        else world.coordinator
        if case.path.startswith("/api/v1/mnr/")
        else world.supervisor
    )
    case.call_and_validate(
        app=world.app,
        headers={"X-CSRF-Token": desk.csrf},
        cookies={COOKIE: desk.token},
        additional_checks=[refusals_name_a_casework_rule],
    )


def test_the_staff_and_audit_operations_are_all_fuzzed() -> None:
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    fuzzed = {(r.ok().method.upper(), r.ok().path) for r in results if isinstance(r, Ok)}
    assert ("GET", "/api/v1/staff/reports/{reference}") in fuzzed
    assert ("POST", "/api/v1/staff/referrals/{referral_id}/answer") in fuzzed
    assert ("GET", "/api/v1/audit/entries") in fuzzed
    assert ("PATCH", "/api/v1/mnr/capabilities/{number}") in fuzzed
    assert ("POST", "/api/v1/mnr/capabilities/{number}/actions") in fuzzed
    assert all(re.match(STAFF_PATHS, path) for _, path in fuzzed)
