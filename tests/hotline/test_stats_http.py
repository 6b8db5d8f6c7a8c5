"""The hotline's figures over HTTP: who may read them, as JSON and as the supervisors' page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.hotline import routes, stats_pages
from tarcza.hotline.models import ContentItem
from tarcza.hotline.stats import Day, Durations, HotlineFigures, Period, WithinThreeDays
from tarcza.hotline.stats_pages import chart, humane
from tarcza.intake.models import Report
from tarcza.store.engine import Database
from tests.support.staff import add_agencies, add_staff, context, sign_in

API, PAGE = "/api/v1/stats/hotline", "/staff/hotline/stats"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(client: TestClient) -> FastAPI:
    """The app, with the figures' routers included when the app does not have them yet."""
    app: FastAPI = client.app  # type: ignore[assignment]
    # FastAPI 0.165 keeps an included router whole (original_router); older ones copy its paths.
    paths = {getattr(route, "path", None) for route in app.routes}
    routers = [getattr(route, "original_router", None) for route in app.routes]
    for router, path in ((routes.router, API), (stats_pages.router, PAGE)):
        if path not in paths and not any(router is r for r in routers):
            app.include_router(router)
    return app


@pytest.fixture
def staff(client: TestClient, app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """Signed-in clients by name, with March's figures in the database."""
    ctx = context(client)
    add_agencies(ctx)
    march(ctx.db)
    people = {
        "supervisor": ("hotline", Role.SUPERVISOR),
        "coordinator": ("ministry", Role.COORDINATOR),
        "police": ("police", Role.SUPERVISOR),
        "helpline": ("helpline", Role.SUPERVISOR),
        "analyst": ("hotline", Role.ANALYST),
    }
    clients = {}
    for name, (agency, role) in people.items():
        clients[name] = TestClient(app, base_url="http://127.0.0.1")
        sign_in(clients[name], add_staff(ctx, agency, role))
    clients["anonymous"] = TestClient(app, base_url="http://127.0.0.1")
    yield clients
    for one in clients.values():
        one.close()


def march(db: Database) -> None:
    """Two reports and two baseline items: one removed in 2 h 15 min, one in 4 days."""
    with db.transaction() as session:
        for n in range(2):
            session.add(
                Report(
                    reference=f"TZ-HTTP-{n:03d}",
                    pin_hash="0" * 64,
                    category="csam",
                    status="received",
                    priority=0,
                    owner_agency="hotline",
                    child_in_danger=False,
                    language="pl",
                    source="web",
                    urls=[],
                    created_at=AT,
                    updated_at=AT,
                )
            )
        for n, removed in ((1, timedelta(hours=2, minutes=15)), (2, timedelta(days=4))):
            session.add(
                ContentItem(
                    url_key=f"{n:064d}",
                    url=f"http://invented.example/{n}",
                    host="invented.example",
                    state="removed",
                    classification="baseline",
                    first_reported_at=AT,
                    last_reported_at=AT,
                    assessed_at=AT + timedelta(hours=1),
                    noticed_at=AT + timedelta(hours=2),
                    removed_at=AT + removed,
                )
            )


def test_the_hotline_supervisor_reads_the_figures(staff: dict[str, TestClient]) -> None:
    answer = staff["supervisor"].get(API, params=MARCH)

    assert answer.status_code == 200
    body = answer.json()
    assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert (body["reports_received"], body["items_reported"], body["items_assessed"]) == (2, 2, 2)
    assert body["by_classification"] == {"baseline": 2}
    assert body["time_to_assessment"] == {"count": 2, "median_seconds": 3600, "p90_seconds": 3600}
    assert body["time_to_removal"] == {
        "count": 2,
        "median_seconds": 8100,
        "p90_seconds": 4 * 86400,
    }
    assert body["baseline_removed_within_3_days"] == {
        "items": 2,
        "removed_within_3_days": 1,
        "share": 0.5,
    }
    assert len(body["series"]) == 31
    assert body["series"][9] == {"day": "2026-03-10", "reported": 2, "assessed": 2, "removed": 1}
    assert body["series"][13]["removed"] == 1


def test_a_coordinator_reads_the_same_figures(staff: dict[str, TestClient]) -> None:
    coordinator = staff["coordinator"].get(API, params=MARCH)
    assert coordinator.status_code == 200
    assert coordinator.json() == staff["supervisor"].get(API, params=MARCH).json()


def test_the_default_period_is_the_last_30_days(staff: dict[str, TestClient]) -> None:
    body = staff["supervisor"].get(API).json()
    today = datetime.now(UTC).date()
    assert body["period"] == {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
    }
    assert len(body["series"]) == 30


@pytest.mark.parametrize(("who", "status"), [("police", 404), ("helpline", 404)])
def test_another_agencys_supervisor_finds_no_figures(
    staff: dict[str, TestClient], who: str, status: int
) -> None:
    assert staff[who].get(API, params=MARCH).status_code == status
    assert staff[who].get(PAGE, params=MARCH).status_code == status


def test_an_analyst_may_not_read_the_figures(staff: dict[str, TestClient]) -> None:
    assert staff["analyst"].get(API).status_code == 403
    assert staff["analyst"].get(PAGE).status_code == 403


def test_without_signing_in_there_are_no_figures(staff: dict[str, TestClient]) -> None:
    assert staff["anonymous"].get(API).status_code == 401
    page = staff["anonymous"].get(PAGE, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/staff/login"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "1.3.2026"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "to"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(
    staff: dict[str, TestClient], query: dict[str, str], field: str
) -> None:
    answer = staff["supervisor"].get(API, params=query)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["query", field] and problem["msg"]


def test_the_openapi_schema_documents_the_figures(app: FastAPI) -> None:
    document = app.openapi()
    operation = document["paths"][API]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    properties = document["components"]["schemas"][name]["properties"]
    assert {"period", "time_to_removal", "baseline_removed_within_3_days", "series"} <= set(
        properties
    )


def test_the_page_shows_the_figures_the_chart_and_the_table(
    staff: dict[str, TestClient],
) -> None:
    page = staff["supervisor"].get(PAGE, params=MARCH)

    assert page.status_code == 200
    html = page.text
    assert '<html lang="pl">' in html and "Otrzymane zgłoszenia" in html
    assert re.search(r'id="reports-received">2<', html)
    assert re.search(r'<tr id="time_to_removal">.*?<td>2 h 15 min</td><td>4 d</td>', html)
    assert re.search(r'id="within-3-days">1 / 2 \(50%\)<', html)
    svg = re.search(r"<svg id=\"hotline-chart\" role=\"img\".*?</svg>", html, re.S)
    assert svg is not None
    assert "<title" in svg.group(0) and "<desc" in svg.group(0)
    assert 'viewBox="0 0 640 220"' in svg.group(0) and 'width="100%"' in svg.group(0)
    assert svg.group(0).count("<rect") == 4  # 2 reported + 2 assessed on the 10th, 1+1 removed
    assert "<script" not in html
    rows = re.findall(r'<tr><th scope="row">(2026-03-\d\d)</th>', html)
    assert len(rows) == 31
    assert '<th scope="row">2026-03-10</th><td>2</td><td>2</td><td>1</td>' in html
    assert "Co oznaczają liczby" in html


def test_the_coordinator_sees_the_page_in_english_when_asked(
    staff: dict[str, TestClient],
) -> None:
    page = staff["coordinator"].get(PAGE, params={**MARCH, "lang": "en"})
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "Reports received" in page.text and "What the figures mean" in page.text
    assert "Baseline items removed within 3 days" in page.text


@pytest.mark.parametrize(
    ("lang", "message"),
    [("pl", "Koniec nie może być przed początkiem."), ("en", "must not be before the start")],
)
def test_the_page_explains_a_bad_period_and_keeps_the_form(
    staff: dict[str, TestClient], lang: str, message: str
) -> None:
    query = {"from": "2026-03-31", "to": "2026-03-01", "lang": lang}
    page = staff["supervisor"].get(PAGE, params=query)
    assert page.status_code == 422
    assert message in page.text
    assert 'id="period-to" name="to" value="2026-03-01" aria-invalid="true"' in page.text
    assert 'name="from" value="2026-03-31"' in page.text
    assert 'role="img"' not in page.text


def test_the_page_names_a_malformed_start_in_polish(staff: dict[str, TestClient]) -> None:
    page = staff["supervisor"].get(PAGE, params={"from": "31.03.2026"})
    assert page.status_code == 422
    assert "Podaj początek jako datę" in page.text
    assert 'id="period-from" name="from" value="31.03.2026" aria-invalid="true"' in page.text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (40, "40 s"),
        (600, "10 min"),
        (3600, "1 h"),
        (86400 + 1799, "1 d"),
        (2 * 3600 + 15 * 60, "2 h 15 min"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_durations_are_shown_humanely(seconds: float | None, shown: str) -> None:
    assert humane(seconds) == shown


def test_the_chart_scales_to_the_busiest_day() -> None:
    none = Durations(0, None, None)
    days = [Day(date(2026, 3, 1), 4, 2, 0), Day(date(2026, 3, 2), 0, 1, 1)]
    figures = HotlineFigures(
        Period(date(2026, 3, 1), date(2026, 3, 2)),
        *(0, 0, 0),
        {},
        *(none, none, none),
        WithinThreeDays(0, 0, None),
        days,
    )
    drawn = chart(figures)
    heights = {(b["day"].day, b["kind"]): b["h"] for b in drawn["bars"]}
    assert heights[(1, "reported")] == 220 - 24 - 10  # the busiest bar fills the plot
    assert heights[(1, "assessed")] == heights[(1, "reported")] / 2
    assert heights[(1, "removed")] == 0
    assert [t["text"] for t in drawn["ticks"]] == ["0", "2", "4"]
    assert all(b["x"] + b["w"] <= drawn["width"] for b in drawn["bars"])
