"""The staff API fuzzed from its OpenAPI document, signed in as a hotline supervisor.

The suite-wide test calls the staff operations without a session (401); here every
generated call carries a live session and its CSRF token, so it reaches the rules and
the services: no input may cause a server error, and every answer must be documented.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import Case

from tarcza.accounts.permissions import Role
from tarcza.config import Settings
from tarcza.store.engine import Database
from tarcza.web.app import create_app
from tests.api.test_schemathesis import REJECTIONS, _openapi_document
from tests.support.staff import add_agencies, add_staff, sign_in

MAX_EXAMPLES = int(os.environ.get("TARCZA_FUZZ_EXAMPLES", "40"))
# A schema cannot say which references exist or which text a rule refuses (a reason of
# control characters, an agency that is not there): valid-looking input may get 404 or 422.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {
            "negative_data_rejection": {"expected-statuses": REJECTIONS},
            "positive_data_acceptance": {"expected-statuses": ["2XX", "404", "422"]},
        },
    }
)
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG).include(
    path_regex="^/api/v1/staff/"
)


@pytest.fixture
def signed_in(settings: Settings, db: Database) -> tuple[FastAPI, dict[str, str], dict[str, str]]:
    """The app with two reports, and a supervisor's session cookie and CSRF header."""
    app = create_app(settings, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ctx = app.state.ctx
        add_agencies(ctx)
        for danger in (False, True):
            body = {"category": "csam", "urls": ["https://example.com/x"], "language": "pl"}
            answer = client.post("/api/v1/reports", json={**body, "child_in_danger": danger})
            assert answer.status_code == 201
        csrf = sign_in(client, add_staff(ctx, "hotline", Role.SUPERVISOR, "marek"))
        token = client.cookies.get("tarcza_staff")
    assert token
    return app, {"tarcza_staff": token}, {"X-CSRF-Token": csrf}


def test_the_fuzzed_operations_include_every_staff_operation() -> None:
    paths = _openapi_document()["paths"]
    staff = {p for p in paths if p.startswith("/api/v1/staff/")}
    assert {"/api/v1/staff/reports", "/api/v1/staff/reports/{reference}/referrals"} <= staff


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
def test_the_staff_api_answers_as_documented_when_signed_in(
    case: Case[Any], signed_in: tuple[FastAPI, dict[str, str], dict[str, str]]
) -> None:
    app, cookies, headers = signed_in
    case.call_and_validate(app=app, cookies=cookies, headers=headers)
