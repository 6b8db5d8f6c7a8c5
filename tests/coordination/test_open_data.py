"""Quarterly open data, public: the index, the Data Package, every table as CSV and JSON.

Invented figures (tests.coordination.seed) in the first quarter of 2026, with a count of 3
that must never appear. Every CSV's header is its schema's fields; every cell is a value of
the field's type or one of the schema's missing values (``<5``, ``x``, empty).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.coordination.seed import SMALL, seed
from tests.support.staff import add_agencies, context

Q1 = "/open-data/2026-Q1"
NAME = re.compile(r"^[a-z0-9._-]+$")


@pytest.fixture
def public(client: TestClient) -> TestClient:
    ctx = context(client)
    add_agencies(ctx)
    seed(ctx.db)
    return client  # never signed in


def typed(value: str, kind: str) -> bool:
    if kind == "integer":
        return value.isdigit()
    if kind == "number":
        return re.fullmatch(r"\d+(\.\d+)?([eE][+-]?\d+)?", value) is not None
    return True


def test_the_index_lists_finished_quarters_without_sign_in(public: TestClient) -> None:
    page = public.get("/open-data")
    assert page.status_code == 200
    assert "Otwarte dane" in page.text
    assert f'href="{Q1}/datapackage.json"' in page.text
    english = public.get("/open-data?lang=en")
    assert "Open data: national figures" in english.text


def test_every_table_matches_its_schema_and_shows_no_small_count(public: TestClient) -> None:
    answer = public.get(f"{Q1}/datapackage.json")
    assert answer.status_code == 200, answer.text
    package = answer.json()
    assert package["profile"] == "tabular-data-package" and NAME.match(package["name"])
    assert package["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    assert len(package["resources"]) >= 20
    seen_small = False
    for resource in package["resources"]:
        assert NAME.match(resource["name"]) and resource["path"] == f"{resource['name']}.csv"
        schema: dict[str, Any] = resource["schema"]
        assert schema["missingValues"] == ["", "<5", "x"]
        fields = schema["fields"]
        sheet = public.get(f"{Q1}/{resource['path']}")
        assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(sheet.text)))
        assert rows[0] == [f["name"] for f in fields]  # the header is the schema
        for row in rows[1:]:
            for value, field in zip(row, fields, strict=True):
                assert value in schema["missingValues"] or typed(value, field["type"]), (
                    resource["name"], field["name"], value)  # fmt: skip
                assert value != str(SMALL), (resource["name"], row)
                seen_small |= value == "<5"
        table = public.get(f"{Q1}/{resource['name']}.json").json()
        assert table["fields"] == rows[0]
        assert [list(map(_csv, r.values())) for r in table["rows"]] == rows[1:]
    assert seen_small  # the 3 sextortion reports are there, as "<5"


def _csv(value: object) -> str:
    return "" if value is None else str(value)


def test_the_quarter_is_the_pages_quarter_without_the_previous_period(
    public: TestClient,
) -> None:
    table = public.get(f"{Q1}/reports_by_category.json").json()
    assert table["fields"] == ["row", "current"]
    values = {r["row"]: r["current"] for r in table["rows"]}
    assert values["csam"] == 20 and values["sextortion"] == "<5" and values["grooming"] == 12
    trend = public.get(f"{Q1}/reports_trend.json").json()
    assert trend["fields"] == ["row", "2026-01-01", "2026-02-01", "2026-03-01", "total"]


@pytest.mark.parametrize(
    "path",
    ["/open-data/2099-Q1/datapackage.json", "/open-data/2026-Q5/reports_trend.csv",
     "/open-data/nonsense/reports_trend.json", f"{Q1}/no_such_table.csv",
     "/open-data/1999-Q4/datapackage.json"],
)  # fmt: skip
def test_an_unfinished_quarter_or_unknown_table_is_not_found(public: TestClient, path: str) -> None:
    assert public.get(path).status_code == 404
