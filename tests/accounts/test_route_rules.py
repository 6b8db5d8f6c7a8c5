"""Every route asks the access rules: a new route without a rule fails here.

A route is either on the public list below (with the reason it is public) or
declares the action it needs through ``accounts.access.require`` (or
``signed_in``); and every permission is asked for by at least one route, so a
rule nobody asks for is noticed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, Route

from tarcza.accounts.access import declared_action, require
from tarcza.accounts.permissions import Action
from tarcza.config import Settings
from tarcza.store.engine import make_database
from tests.support.app import make_app
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
    ("POST", "/api/v1/reports/{reference}/information"): "more information (reference + PIN)",
    ("POST", "/status/add"): "more information (reference + PIN, throttled)",
    # Self-protection: hashes only, then the case number + PIN (throttled).
    ("GET", "/protect"): "self-protection form",
    ("POST", "/protect"): "self-protection: open a case (hashes only)",
    ("GET", "/protect/status"): "self-protection case form",
    ("POST", "/protect/status"): "self-protection case (number + PIN)",
    ("POST", "/protect/add"): "self-protection case (number + PIN)",
    ("POST", "/protect/withdraw"): "self-protection case (number + PIN)",
    ("POST", "/api/v1/selfprotect/cases"): "self-protection API (hashes only)",
    ("GET", "/api/v1/selfprotect/cases/{reference}"): "self-protection API (number + PIN)",
    ("POST", "/api/v1/selfprotect/cases/{reference}/items"): "self-protection API (number + PIN)",
    ("POST", "/api/v1/selfprotect/cases/{reference}/withdraw"): "self-protection API (+ PIN)",
    # Partner platforms: their own API keys, scoped to banks (hashing.partners).
    ("POST", "/api/v1/match"): "partner API key",
    ("GET", "/m/lookup"): "partner API key (HMA shape)",
    ("GET", "/m/raw_lookup"): "partner API key (HMA shape)",
    ("POST", "/m/lookup"): "partner API key (HMA shape, an uploaded photo)",
    ("GET", "/m/index/status"): "partner API key (HMA shape, counts of its banks)",
    ("POST", "/m/compare"): "partner API key (HMA shape, compares the hashes it sends)",
    ("GET", "/api/v1/banks/{name}/changes"): "partner API key, scoped to its banks",
    ("POST", "/api/v1/feedback"): "partner API key, scoped to its banks",
    # Partner platforms' reports in the CyberTipline Reporting API's shape (HTTP Basic: the
    # partner's name and API key), except the schema, which is no secret.
    ("GET", "/ispws/status"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("GET", "/ispws/xsd"): "the accepted XML schema, no data",
    ("POST", "/ispws/submit"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("POST", "/ispws/upload"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("POST", "/ispws/fileinfo"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("POST", "/ispws/finish"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("POST", "/ispws/retract"): "partner API key (HTTP Basic, CyberTipline shape)",
    ("GET", "/ispws/reports/{report_id}"): "partner API key, its own reports only",
    # Quarterly open data: suppressed aggregates of finished quarters, for anyone.
    ("GET", "/open-data"): "open data index (aggregates only)",
    ("GET", "/open-data/{quarter}/datapackage.json"): "open data (suppressed aggregates)",
    ("GET", "/open-data/{quarter}/{table}.csv"): "open data (suppressed aggregates)",
    ("GET", "/open-data/{quarter}/{table}.json"): "open data (suppressed aggregates)",
    # Signing in cannot need a session.
    ("GET", "/staff/login"): "sign in",
    ("POST", "/staff/login"): "sign in",
    ("GET", "/staff/login/code"): "second factor (pending session)",
    ("POST", "/staff/login/code"): "second factor (pending session)",
    ("GET", "/staff/login/enrol"): "second factor enrolment (pending session)",
    ("POST", "/staff/login/enrol"): "second factor enrolment (pending session)",
}
# Routes that are not endpoints of ours: the API's own schema and the static files.
NOT_ENDPOINTS = {
    ("GET", "/api/v1/openapi.json"): "the API's schema (FastAPI's own route)",
    ("MOUNT", "/static"): "stylesheet and images, no data",
}
# Asked for by no route, on purpose.
ASKED_ELSEWHERE = {
    # Served by partner API keys (see PUBLIC), not staff sessions.
    Action.HASH_MATCH_QUERY: "partner API keys",
    # Asked per record by the report view (cases.service.CaseService.report), which leaves
    # the personal data out unless the rule allows it, and audits the reading;
    # tests/accounts/test_access_http.py checks it through HTTP for every person.
    Action.REPORT_PERSONAL_READ: "the report view, per record",
}
ACTIONS = {a.value for a in Action}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    action: str | None  # None: no access rule declared

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def build_app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )
    return make_app(settings, make_database("sqlite://"))


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path) the app answers, as routed: prefixes and included dependencies."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        assert path is not None, f"a route without a path: {route!r}"
        if isinstance(route, Mount):
            yield Endpoint("MOUNT", path, None)
            continue
        dependant = getattr(context, "dependant", None)
        if dependant is None:
            # Only FastAPI's own schema route is a bare Starlette route here.
            assert isinstance(route, Route), f"an unknown kind of route at {path}: {route!r}"
            action = None
        else:
            action = declared_action(dependant.dependencies)
        for method in sorted((context.methods or set()) - {"HEAD"}):
            yield Endpoint(method, path, action)


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> list[Endpoint]:
    return list(endpoints(build_app(tmp_path_factory.mktemp("routes"))))


def test_the_walk_finds_the_routes_of_every_router(routed: list[Endpoint]) -> None:
    keys = {e.key for e in routed}
    # One of each router of the app: intake, matching, HMA, accounts, cases, audit.
    for key in [
        ("POST", "/api/v1/reports"),
        ("GET", "/m/lookup"),
        ("GET", "/staff/login"),
        ("GET", "/api/v1/staff/me"),
        ("GET", "/api/v1/staff/reports/{reference}"),
        ("GET", "/staff/reports/{reference}"),
        ("GET", "/api/v1/audit/entries"),
        ("GET", "/staff/audit"),
        ("GET", "/staff/users"),
        ("MOUNT", "/static"),
    ]:
        assert key in keys, key


def test_the_walk_sees_a_new_route_with_its_prefix_and_included_rule(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    bare, guarded = APIRouter(), APIRouter()
    bare.add_api_route("/new", lambda: None, methods=["GET"])
    guarded.add_api_route("/new", lambda: None, methods=["POST"])
    app.include_router(bare, prefix="/staff/bare")
    app.include_router(
        guarded,
        prefix="/staff/guarded",
        dependencies=[Depends(require(Action.USER_ACCOUNT_MANAGE))],
    )
    found = {e.key: e.action for e in endpoints(app)}
    assert found[("GET", "/staff/bare/new")] is None
    assert found[("POST", "/staff/guarded/new")] == "user:account:manage"


def test_every_route_is_public_by_name_or_declares_its_action(routed: list[Endpoint]) -> None:
    undeclared, public_but_guarded, unknown = [], [], []
    for endpoint in routed:
        name = f"{endpoint.method} {endpoint.path}"
        if endpoint.key in NOT_ENDPOINTS:
            assert endpoint.action is None, name
        elif endpoint.key in PUBLIC:
            if endpoint.action is not None:
                public_but_guarded.append(f"{name} ({endpoint.action})")
        elif endpoint.action is None:
            undeclared.append(name)
        elif endpoint.action != "signed-in" and endpoint.action not in ACTIONS:
            unknown.append(f"{name} ({endpoint.action})")
    assert undeclared == [], "routes without an access rule: " + ", ".join(undeclared)
    assert public_but_guarded == [], "listed as public but guarded: " + ", ".join(
        public_but_guarded
    )
    assert unknown == [], "routes asking for no real action: " + ", ".join(unknown)


def test_every_staff_route_declares_an_action(routed: list[Endpoint]) -> None:
    """Under /staff and the staff/audit API only the sign-in steps are open."""
    staff = [e for e in routed if e.path.startswith(("/staff", "/api/v1/staff", "/api/v1/audit"))]
    assert staff
    for endpoint in staff:
        if endpoint.key in PUBLIC:
            assert endpoint.path.startswith("/staff/login"), endpoint
        else:
            assert endpoint.action is not None, endpoint


def test_every_permission_is_asked_for_by_some_route(routed: list[Endpoint]) -> None:
    asked = {e.action for e in routed}
    missing = ACTIONS - asked - {a.value for a in ASKED_ELSEWHERE}
    assert missing == set(), f"permissions no route asks for: {sorted(missing)}"
    # And the exceptions stay exceptions: once a route asks, drop it from the list.
    assert {a.value for a in ASKED_ELSEWHERE}.isdisjoint(asked)


def test_the_lists_name_only_real_routes(routed: list[Endpoint]) -> None:
    real = {e.key for e in routed}
    assert set(PUBLIC) - real == set()
    assert set(NOT_ENDPOINTS) - real == set()
