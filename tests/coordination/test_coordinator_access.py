"""No person-level record reaches the coordinator: only aggregates, through rules and HTTP.

The rules: the coordinator's role holds aggregate actions only. Through HTTP: with invented
records in the database (tests.coordination.seed), the coordinator calls every GET route of
the staff pages and the API, naming real records' ids and references; every route that is
not an aggregate (or the coordinator's own account) refuses.
"""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Route

from tarcza.accounts.permissions import GRANTS, Action, Role
from tarcza.intake.models import Report
from tests.coordination.seed import seed
from tests.support.staff import add_agencies, add_staff, context, sign_in

AGGREGATES = {Action.STATS_AGGREGATE_READ, Action.HOTLINE_STATS_READ}
# The MNR tracker: institutions' accounts of their own work and aggregates, no person's record.
TRACKER = {Action.MNR_TRACKER_READ, Action.MNR_PROGRESS_UPDATE, Action.MNR_TRACKER_MANAGE}
# Pages and answers of counts only, or of the person themself.
ALLOWED = {
    "/staff/national",
    "/api/v1/stats/national",
    "/api/v1/stats/national/tables/{name}.csv",
    "/api/v1/stats/national/tables/{name}.json",
    "/staff/national/reports",  # the monthly reports of the national figures
    "/staff/national/reports/{month}/{language}.pdf",
    "/staff/hotline/stats",
    "/staff/mnr",  # the tracker (capabilities, evidence, actions), counts suppressed
    "/staff/mnr/{number}",
    "/api/v1/mnr/capabilities",
    "/api/v1/mnr/capabilities/{number}",
    "/api/v1/stats/hotline",
    "/staff",
    "/staff/account",
    "/api/v1/staff/me",
    "/staff/login",
    "/staff/login/code",
    "/staff/login/enrol",
    "/staff/logout",
    "/api/v1/openapi.json",  # the API's description, public
}


def test_the_coordinators_role_holds_aggregate_actions_only() -> None:
    assert set(GRANTS[Role.COORDINATOR]) <= AGGREGATES | TRACKER


def test_no_record_route_answers_the_coordinator(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx)
    seed(ctx.db)
    with ctx.db.sessions() as session:
        report_id, reference = session.execute(select(Report.id, Report.reference)).first()
    sign_in(client, add_staff(ctx, "ministry", Role.COORDINATOR))
    fill = {"reference": reference, "name": "SELF_PROTECTION"}
    answered = {}
    for context_ in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route, template = context_.original_route, context_.path
        if not isinstance(route, Route) or "GET" not in (route.methods or ()) or not template:
            continue
        if not template.startswith(("/staff", "/api/v1", "/m/")) or template in ALLOWED:
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(fill.get(m[1], report_id)), template)
        answered[template] = client.get(path, follow_redirects=False).status_code
    assert len(answered) > 15, answered
    allowed = {k: v for k, v in answered.items() if v < 300}
    assert allowed == {}
