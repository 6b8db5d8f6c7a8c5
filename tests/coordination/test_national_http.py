"""The national figures over HTTP, on SQLite and PostgreSQL: who reads them, and how."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tests.coordination.seed import SMALL, seed
from tests.support.staff import add_agencies, add_staff, context, sign_in

API, PAGE = "/api/v1/stats/national", "/staff/national"
MARCH = {"from": "2026-03-01", "to": "2026-03-31", "every": "week"}


@pytest.fixture
def staff(client: TestClient) -> Iterator[dict[str, TestClient]]:
    """Signed-in clients by name, with the invented figures in the database."""
    ctx = context(client)
    add_agencies(ctx)
    seed(ctx.db)
    people = {
        "coordinator": ("ministry", Role.COORDINATOR),
        "supervisor": ("hotline", Role.SUPERVISOR),
        "analyst": ("hotline", Role.ANALYST),
        "officer": ("police", Role.OFFICER),
        "counsellor": ("helpline", Role.COUNSELLOR),
        "auditor": ("ministry", Role.AUDITOR),
    }
    clients = {}
    for name, (agency, role) in people.items():
        clients[name] = TestClient(client.app, base_url="http://127.0.0.1")
        sign_in(clients[name], add_staff(ctx, agency, role))
    clients["anonymous"] = TestClient(client.app, base_url="http://127.0.0.1")
    yield clients
    for one in clients.values():
        one.close()


def table(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in body["tables"] if t["name"] == name)


def cell(body: dict[str, Any], name: str, row: str, column: str) -> Any:
    t = table(body, name)
    values = next(r["values"] for r in t["rows"] if r["key"] == row)
    return values[t["columns"].index(column)]


def test_the_coordinator_reads_the_national_figures(staff: dict[str, TestClient]) -> None:
    answer = staff["coordinator"].get(API, params=MARCH)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"] == {"from": "2026-02-23", "to": "2026-04-05"}  # whole weeks
    assert body["previous"] == {"from": "2026-01-12", "to": "2026-02-22"}
    assert body["threshold"] == 5
    assert cell(body, "reports_by_category", "csam", "current") == 20
    assert cell(body, "reports_by_category", "sextortion", "current") == "<5"
    assert cell(body, "reports_by_category", "grooming", "previous") == 12
    assert cell(body, "reports_by_channel", "public_form", "current") == 20
    assert cell(body, "hotline_classification", "baseline", "current") == 9
    assert cell(body, "hotline_classification", "national", "current") == "<5"
    assert cell(body, "hotline_classification", "not_illegal", "current") == "x"
    assert cell(body, "hotline_removal", "current", "share") == 1.0
    assert cell(body, "hotline_removal", "current", "median_seconds") == 28 * 3600
    assert cell(body, "hosting_countries", "NL", "current") == 9
    assert cell(body, "hash_banks", "SELF_PROTECTION", "size") == 12
    assert cell(body, "hash_banks", "SELF_PROTECTION", "evidence_matches") == 12
    assert cell(body, "self_protection", "copies_blocked", "current") == 12
    assert cell(body, "helpline_contacts_by_channel", "phone", "current") == 8
    assert cell(body, "helpline_contacts_by_channel", "chat", "current") == "<5"
    assert cell(body, "helpline_contacts_by_topic", "sextortion", "current") == 17
    assert cell(body, "police_referrals", "accepted", "current") == 12
    assert cell(body, "police_acknowledgement", "current", "median_seconds") == 7 * 3600
    assert cell(body, "police_outcomes", "investigation_opened", "current") == "<5"
    assert cell(body, "referrals_between_agencies", "hotline_to_police", "accepted") == 12
    # Every trend bucket of the period; the buckets add up to the period's total.
    trend = table(body, "reports_trend")
    assert trend["columns"][:2] == ["2026-02-23", "2026-03-02"]
    assert trend["columns"][-1] == "total"


def test_a_small_count_never_appears_in_the_api_nor_an_export(
    staff: dict[str, TestClient],
) -> None:
    coordinator = staff["coordinator"]
    body = coordinator.get(API, params=MARCH).json()
    numbers = _counts(body)
    assert numbers and SMALL not in numbers and all(not 0 < n < 5 for n in numbers)
    for t in body["tables"]:
        exported = coordinator.get(f"{API}/tables/{t['name']}.csv", params=MARCH)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == ["row", *t["columns"]]
        for row in rows[1:]:
            for value in row[1:]:
                assert not re.fullmatch(r"[1-4]", value), (t["name"], row)
        as_json = coordinator.get(f"{API}/tables/{t['name']}.json", params=MARCH).json()
        assert as_json == t


def test_no_small_count_comes_back_by_total_minus_parts(staff: dict[str, TestClient]) -> None:
    body = staff["coordinator"].get(API, params=MARCH).json()
    # Every breakdown with a total row: the total less the visible parts must not be a small
    # count standing for one hidden part alone.
    for t in body["tables"]:
        for column in range(len(t["columns"])):
            _no_single_unknown(t["name"], [r["values"][column] for r in t["rows"]], t)
        keyed = {r["key"]: r["values"] for r in t["rows"]}
        if "total" in t["columns"]:
            at = t["columns"].index("total")
            for key, values in keyed.items():
                _no_single_unknown(t["name"], [*values[:at], values[at]], t, row=key)


def _no_single_unknown(name: str, column: list[Any], t: dict[str, Any], row: str = "") -> None:
    has_total = any(r["key"] == "total" for r in t["rows"]) or row
    if not has_total:
        return
    hidden = [v for v in column if isinstance(v, str)]
    assert len(hidden) != 1, (name, row, column)


MEASURES = frozenset({"share", "median_seconds", "p90_seconds"})


def _counts(body: dict[str, Any]) -> list[int]:
    """Every count shown (not the measures: a share of 1.0 or a median in seconds)."""
    return [
        value
        for t in body["tables"]
        for row in t["rows"]
        for column, value in zip(t["columns"], row["values"], strict=True)
        if column not in MEASURES and isinstance(value, int)
    ]


def test_the_page_shows_the_tables_charts_and_no_small_count(
    staff: dict[str, TestClient],
) -> None:
    page = staff["coordinator"].get(PAGE, params={**MARCH, "lang": "en"})

    assert page.status_code == 200
    html = page.text
    assert "National figures" in html
    assert 'id="reports_by_category"' in html and 'id="chart-reports_by_category"' in html
    assert "&lt;5" in html
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert cells and not any(re.fullmatch(r"\s*[1-4]\s*", c) for c in cells)
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", html)
    assert not any(re.fullmatch(r"[1-4]", t) for t in svg_texts)
    assert "/api/v1/stats/national/tables/reports_by_category.csv?" in html
    # Each chart's legend gives each series its own colour, and they are not black.
    for svg in re.findall(r"<svg id=\"chart-.*?</svg>", html, re.S):
        legend = re.findall(r'<g class="legend-item"><rect [^>]*fill="(#[0-9a-f]{6})"', svg)
        assert len(legend) == len(set(legend)) and "#000000" not in legend


def test_the_page_is_polish_by_default(staff: dict[str, TestClient]) -> None:
    page = staff["coordinator"].get(PAGE, params=MARCH)
    assert page.status_code == 200
    assert "Dane krajowe" in page.text


@pytest.mark.parametrize("who", ["supervisor", "analyst", "officer", "counsellor", "auditor"])
def test_nobody_but_the_coordinator_reads_them(staff: dict[str, TestClient], who: str) -> None:
    assert staff[who].get(API, params=MARCH).status_code == 403
    assert staff[who].get(f"{API}/tables/reports_by_category.csv").status_code == 403
    assert staff[who].get(PAGE).status_code == 403


def test_without_a_session_the_api_answers_401(staff: dict[str, TestClient]) -> None:
    assert staff["anonymous"].get(API).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"every": "day"}, "every"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ],
)
def test_a_bad_period_is_named(staff: dict[str, TestClient], params: dict[str, str],
                               field: str) -> None:  # fmt: skip
    answer = staff["coordinator"].get(API, params=params)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", field]
    page = staff["coordinator"].get(PAGE, params=params)
    assert page.status_code == 422 and f'href="#period-{field}"' in page.text


def test_an_unknown_table_is_404(staff: dict[str, TestClient]) -> None:
    assert staff["coordinator"].get(f"{API}/tables/nothing.csv").status_code == 404


def test_the_menu_offers_the_national_figures_to_the_coordinator_only(
    staff: dict[str, TestClient],
) -> None:
    assert 'href="/staff/national"' in staff["coordinator"].get(PAGE).text
    assert 'href="/staff/national"' not in staff["supervisor"].get("/staff/stats").text


def test_the_json_is_what_the_page_shows(staff: dict[str, TestClient]) -> None:
    body = staff["coordinator"].get(API, params=MARCH).json()
    assert json.loads(json.dumps(body)) == body
