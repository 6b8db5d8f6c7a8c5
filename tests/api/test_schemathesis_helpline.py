"""Property-based tests of the child helpline's API, signed in (schemathesis).

The same checks as tests/api/test_schemathesis_staff.py, on the operations under
/api/v1/helpline: a counsellor (who holds every helpline action) calls them with their
session cookie and CSRF token. A few contacts and cases exist — open, closed, one contact
with a number kept, one of another helpline — and generated ids, usernames and service ids
often name them, so the fuzzing reaches the work on real records and not only 404s.
Every answer must be no server error, a documented status code and content type, and a
body of the documented schema.
"""

from __future__ import annotations

import os
import re
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

from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.config import Settings
from tarcza.helpline import rules
from tarcza.helpline.pages import REFUSALS
from tarcza.store.engine import Database
from tests.api.test_schemathesis import REJECTIONS, _openapi_document
from tests.api.test_schemathesis_staff import COOKIE, Desk, _aim, _desk, _row_id, _text
from tests.support.app import make_app
from tests.support.staff import add_agencies, add_staff, context

MAX_EXAMPLES = int(os.environ.get("TARCZA_FUZZ_EXAMPLES", "40"))
HELPLINE_PATHS = r"^/api/v1/helpline/"
# Valid input may still be refused by a rule the document cannot state (a contact already
# in a case, a follow-up day in the past, an unknown colleague or service): 422, naming it.
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
    path_regex=HELPLINE_PATHS
)
# The helpline's refusals, and those of a link (intake's URL rules) and a time zone.
RULE_CODES = frozenset(REFUSALS) | {"no_zone", "empty", "invalid_url", "url_scheme"}

CALL = {
    "channel": "phone",
    "caller": "child",
    "age_band": "13_15",
    "topics": ["sextortion"],
    "risk": "high",
    "summary": "Invented: a stranger threatens to post the child's photos.",
}


@dataclass(frozen=True)
class World:
    app: FastAPI
    counsellor: Desk
    pools: dict[str, list[Any]]  # parameter or field -> values naming real records and people


def _post(client: TestClient, desk: Desk, path: str, body: dict[str, Any]) -> Any:
    response = client.post(
        f"/api/v1/helpline{path}",
        json=body,
        headers={"X-CSRF-Token": desk.csrf},
        cookies={COOKIE: desk.token},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def world(settings: Settings, db: Database) -> Iterator[World]:
    """The app with a counsellor signed in, contacts and cases.

    Contacts: one in an open case, one in a case then closed, one with a number kept,
    one on its own, and one of another helpline in a case of its own (never theirs to see).
    """
    app = make_app(settings, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ctx = context(client)
        add_agencies(ctx)
        ctx.accounts.add_agency("helpline-2", "Another helpline", AgencyKind.HELPLINE)
        counsellor = _desk(app, "helpline", Role.COUNSELLOR, "kasia")
        add_staff(ctx, "helpline", Role.SUPERVISOR, "hela")  # a colleague to assign to
        stranger = _desk(app, "helpline-2", Role.COUNSELLOR, "inna")
        add_staff(ctx, "hotline", Role.ANALYST, "anna")  # not a colleague: refused as assignee
        contacts = [_post(client, counsellor, "/contacts", CALL)["id"] for _ in range(3)]
        kept = {**CALL, "number": "+48 600 000 000", "identity_reason": "The child asked."}
        contacts.append(_post(client, counsellor, "/contacts", kept)["id"])
        contacts.append(_post(client, stranger, "/contacts", CALL)["id"])
        cases = [
            _post(client, counsellor, f"/contacts/{c}/case", {"case_id": None})["case_id"]
            for c in contacts[:2]
        ]
        cases.append(  # the other helpline's case: never theirs to see
            _post(client, stranger, f"/contacts/{contacts[4]}/case", {"case_id": None})["case_id"]
        )
        closed = client.patch(
            f"/api/v1/helpline/cases/{cases[1]}",
            json={"status": "closed"},
            headers={"X-CSRF-Token": counsellor.csrf},
            cookies={COOKIE: counsellor.token},
        )
        assert closed.status_code == 204, closed.text
        services = [
            s["id"]
            for s in client.get(
                "/api/v1/helpline/services", cookies={COOKIE: counsellor.token}
            ).json()[:3]
        ]
        yield World(
            app,
            counsellor,
            {
                "contact_id": contacts,
                "case_id": cases,
                "service_id": [*services, "pl-nowhere"],
                "assignee": ["kasia", "hela", "inna", "anna", ""],
                "region": [rules.NATIONAL, *rules.REGIONS_PL[:2], "atlantis"],
            },
        )


def aim_at_real_records(case: Case[Any], pools: dict[str, list[Any]]) -> None:
    """Most valid ids and names become those of real records and people (see the staff fuzz)."""
    _aim(case.path_parameters, pools, PATH_VALID)
    _aim(case.query, pools, QUERY_VALID)
    if isinstance(case.body, dict):
        _aim(case.body, pools, BODY_VALID)


PATH_VALID = {"contact_id": _row_id, "case_id": _row_id}
QUERY_VALID = {"region": _text(r"[a-z-]{1,32}")}
BODY_VALID = {
    "case_id": _row_id,
    "service_id": _text(r".{1,64}"),
    "assignee": _text(r".{0,40}"),
}


def refusals_name_a_helpline_rule(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Valid input refused (422) must be refused by a helpline rule, not by the validation."""
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
def test_every_helpline_operation_answers_as_documented_and_never_fails(
    case: Case[Any], world: World
) -> None:
    aim_at_real_records(case, world.pools)
    desk = world.counsellor
    case.call_and_validate(
        app=world.app,
        headers={"X-CSRF-Token": desk.csrf},
        cookies={COOKIE: desk.token},
        additional_checks=[refusals_name_a_helpline_rule],
    )


def test_the_helpline_operations_are_all_fuzzed() -> None:
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    fuzzed = {(r.ok().method.upper(), r.ok().path) for r in results if isinstance(r, Ok)}
    assert ("POST", "/api/v1/helpline/contacts") in fuzzed
    assert ("PATCH", "/api/v1/helpline/cases/{case_id}") in fuzzed
    assert ("POST", "/api/v1/helpline/contacts/{contact_id}/reports") in fuzzed
    assert ("GET", "/api/v1/helpline/services") in fuzzed
    assert len(fuzzed) == 15
    assert all(re.match(HELPLINE_PATHS, path) for _, path in fuzzed)
