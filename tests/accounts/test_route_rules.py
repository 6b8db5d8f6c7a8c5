"""Every route asks the access rules: a new route without a rule fails here.

A route is either on the public list below (with the reason it is public) or
declares the action it needs through ``accounts.access.require`` (or
``signed_in``); and every permission is asked for by at least one route.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from tarcza.accounts.access import declared_action
from tarcza.accounts.permissions import Action
from tarcza.config import Settings
from tarcza.store.engine import make_database
from tarcza.web.app import create_app
from tests.support.keys import HMAC_KEY, KEY_A

PUBLIC = {
    # The public: anyone may report and follow a report with its reference and PIN.
    ("GET", "/"): "home page",
    ("GET", "/report"): "report form",
    ("POST", "/report"): "report form",
    ("GET", "/status"): "status form",
    ("POST", "/status"): "status check (reference + PIN, throttled)",
    ("POST", "/api/v1/reports"): "reporting API",
    ("GET", "/api/v1/reports/{reference}/status"): "status API (reference + PIN)",
    # Partner platforms: their own API keys, scoped to banks (hashing.partners).
    ("POST", "/api/v1/match"): "partner API key",
    ("GET", "/m/lookup"): "partner API key (HMA shape)",
    ("GET", "/m/raw_lookup"): "partner API key (HMA shape)",
    # Signing in cannot need a session.
    ("GET", "/staff/login"): "sign in",
    ("POST", "/staff/login"): "sign in",
    ("GET", "/staff/login/code"): "second factor (pending session)",
    ("POST", "/staff/login/code"): "second factor (pending session)",
    ("GET", "/staff/login/enrol"): "second factor enrolment (pending session)",
    ("POST", "/staff/login/enrol"): "second factor enrolment (pending session)",
    ("GET", "/api/v1/openapi.json"): "the API's schema",
}


def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )
    return create_app(settings, make_database("sqlite://"))


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, those of lazily included routers too."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if isinstance(inner, APIRouter):
            yield from api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_every_route_is_public_by_name_or_declares_its_action(tmp_path: Path) -> None:
    undeclared = []
    for route in api_routes(app(tmp_path).routes):
        action = declared_action(route.dependant.dependencies)
        for method in route.methods - {"HEAD"}:
            if (method, route.path) in PUBLIC:
                assert action is None, f"{method} {route.path} is public but declares {action}"
            elif action is None:
                undeclared.append(f"{method} {route.path}")
            else:
                assert action == "signed-in" or action in {a.value for a in Action}
    assert undeclared == [], "routes without an access rule: " + ", ".join(undeclared)


def test_every_permission_is_asked_for_by_some_route(tmp_path: Path) -> None:
    asked = {declared_action(r.dependant.dependencies) for r in api_routes(app(tmp_path).routes)}
    asked_elsewhere = {
        # Served by partner API keys (see PUBLIC), not staff sessions.
        Action.HASH_MATCH_QUERY.value,
        # Asked per record by the report view (cases.service), which leaves the personal
        # data out, and audits its reading, by the same rule.
        Action.REPORT_PERSONAL_READ.value,
    }
    missing = {a.value for a in Action} - asked - asked_elsewhere
    assert missing == set()


def test_the_public_list_names_only_real_routes(tmp_path: Path) -> None:
    real = {(m, r.path) for r in api_routes(app(tmp_path).routes) for m in r.methods - {"HEAD"}}
    real.add(("GET", "/api/v1/openapi.json"))
    assert set(PUBLIC) <= real
