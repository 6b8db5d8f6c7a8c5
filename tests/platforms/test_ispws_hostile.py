"""Hostile bodies at /ispws never make a 500: each gets a 4xx and the API's XML error."""

from __future__ import annotations

import itertools

import hypothesis
import hypothesis.strategies as st
from fastapi.testclient import TestClient
from hypothesis import HealthCheck

from tarcza.config import Settings
from tarcza.store.engine import Database
from tests.platforms.support import add_partner, answer, fixture

HOSTILE = hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = itertools.count()  # a fresh partner per example (the database outlives the examples)
_REPORT = fixture("report_sextortion.xml")
# Random bytes, and the fixture with a slice replaced by random text (near-valid XML).
bodies = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.integers(0, len(_REPORT)), st.integers(0, 200), st.text(max_size=50)).map(
        lambda t: _REPORT[: t[0]] + t[2].encode() + _REPORT[t[0] + t[1] :]
    ),
)


@HOSTILE
@hypothesis.given(body=bodies, path=st.sampled_from(["/ispws/submit", "/ispws/fileinfo"]))
def test_any_body_is_a_4xx_with_the_apis_error_or_a_report(
    client: TestClient, db: Database, settings: Settings, body: bytes, path: str
) -> None:
    partner = add_partner(db, settings, f"fuzz{next(NAMES)}")
    headers = {**partner.headers, "Content-Type": "text/xml"}
    response = client.post(path, content=body, headers=headers)
    values = answer(response.content)
    if response.status_code == 200:
        assert values["responseCode"] == "0"
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert values["responseCode"] in {"4100", "5001"}, values


@HOSTILE
@hypothesis.given(value=st.text(max_size=30))
def test_any_form_id_is_a_4xx_with_the_apis_error(
    client: TestClient, db: Database, settings: Settings, value: str
) -> None:
    partner = add_partner(db, settings, f"fuzz{next(NAMES)}")
    for path in ("/ispws/finish", "/ispws/retract"):
        response = client.post(path, data={"id": value}, headers=partner.headers)
        assert 400 <= response.status_code < 500, (path, value, response.text)
        assert answer(response.content)["responseCode"] in {"4000", "5001"}
