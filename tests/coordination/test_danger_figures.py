"""The coordinator's child-in-danger figures are the duty desk's acknowledgement times.

Six danger reports go through the real intake (so the danger rules raise their alerts); the
police duty desk acknowledges five of them; the national figures then give the median time to
the duty desk's acknowledgement, not the time to its later answer to the referral.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tarcza.accounts.permissions import Role
from tarcza.alerts.models import DangerAlert
from tarcza.store.base import utcnow
from tests.coordination.test_national_http import cell
from tests.support.staff import add_agencies, add_staff, context, sign_in


def test_danger_acknowledgement_times_are_the_duty_desks(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx)
    for n in range(6):
        answer = client.post(
            "/api/v1/reports",
            json={"category": "grooming", "description": f"Invented {n}", "child_in_danger": True},
        )
        assert answer.status_code == 201, answer.text
    with ctx.db.transaction() as session:
        alerts = session.scalars(select(DangerAlert).order_by(DangerAlert.id)).all()
        assert len(alerts) == 6
        for minutes, alert in zip((2, 4, 6, 8, 10), alerts, strict=False):
            session.execute(
                update(DangerAlert)
                .where(DangerAlert.id == alert.id)
                .values(
                    state="acknowledged",
                    acknowledged_by="piotr",
                    acknowledged_at=alert.raised_at + timedelta(minutes=minutes),
                )
            )
    coordinator = TestClient(client.app, base_url="http://127.0.0.1")
    sign_in(coordinator, add_staff(ctx, "ministry", Role.COORDINATOR))
    today = utcnow().date()
    params = {"from": (today - timedelta(days=7)).isoformat(), "to": today.isoformat()}
    body = coordinator.get("/api/v1/stats/national", params={**params, "every": "week"}).json()
    assert cell(body, "child_in_danger_acknowledgement", "current", "median_seconds") == 6 * 60
