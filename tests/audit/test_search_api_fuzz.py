"""The audit API fuzzed from its own OpenAPI document by schemathesis, as a signed-in auditor.

The suite-wide schemathesis test calls every operation without a session (401);
here every generated search and export reaches the service, so the answers'
bodies must match the documented models and no input may cause a server error.
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
from tests.api.test_schemathesis import _openapi_document
from tests.support.app import make_app
from tests.support.staff import add_agencies, add_staff, sign_in

MAX_EXAMPLES = int(os.environ.get("TARCZA_FUZZ_EXAMPLES", "40"))
REJECTIONS = ["400", "401", "403", "404", "422"]


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
    }
)
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG).include(
    path_regex="^/api/v1/audit/"
)


@pytest.fixture
def signed_in(settings: Settings, db: Database) -> tuple[FastAPI, dict[str, str]]:
    """The app and the session cookie of an auditor."""
    app = make_app(settings, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ctx = app.state.application
        add_agencies(ctx)
        sign_in(client, add_staff(ctx, "ministry", Role.AUDITOR, "olga"))
        token = client.cookies.get("tarcza_staff")
    assert token
    return app, {"tarcza_staff": token}


def test_the_document_covers_both_audit_operations() -> None:
    paths = _openapi_document()["paths"]
    assert "get" in paths["/api/v1/audit/entries"] and "get" in paths["/api/v1/audit/export"]
    params = {p["name"] for p in paths["/api/v1/audit/entries"]["get"]["parameters"]}
    assert params >= {"actor", "action", "subject_type", "subject_id", "since", "until", "limit"}


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
def test_the_audit_api_answers_as_documented_when_signed_in(
    case: Case[Any], signed_in: tuple[FastAPI, dict[str, str]]
) -> None:
    app, cookies = signed_in
    case.call_and_validate(app=app, cookies=cookies)
