"""Limits on new reports (issue 11, defect 2), through HTTP on SQLite and PostgreSQL.

Per client network, over all public clients, and a partner platform's own quota; counted in
the shared store, so a burst never gets past them; a refused person is told when to try again
and sees the help numbers, 112 first; a refused or rejected report does not count.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing.partners import create_partner
from tarcza.intake.models import Report
from tarcza.intake.rules import client_network
from tarcza.store.engine import Database
from tests.support.app import make_app

REPORTS = "/api/v1/reports"
REPORT = {"category": "grooming", "description": "Someone asked a child for photos."}

Clients = Callable[[str], TestClient]


@pytest.fixture
def limited(settings: Settings) -> Settings:
    """Tight limits: 3 an hour per network, 5 an hour for all public clients, 4 a partner."""
    return settings.model_copy(
        update={
            "report_rate_per_client": "3/hour",
            "report_rate_overall": "5/hour",
            "report_rate_per_partner": "4/hour",
        }
    )


@pytest.fixture
def app(limited: Settings, db: Database) -> FastAPI:
    return make_app(limited, db)


@pytest.fixture
def client_from(app: FastAPI) -> Iterator[Clients]:
    """A test client whose requests come from a given address."""
    opened: list[TestClient] = []

    def make(address: str) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1", client=(address, 40000))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _reports(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def test_a_network_gets_its_quota_then_429_with_when_and_help(
    client_from: Clients, db: Database
) -> None:
    client = client_from("203.0.113.7")
    codes = [client.post(REPORTS, json=REPORT).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    refused = client.post(REPORTS, json=REPORT)
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 7200
    body = refused.json()
    assert body["retry_after"] == retry
    assert body["help"][0]["number"] == "112"
    assert {h["number"] for h in body["help"]} >= {"112", "997", "116 111"}
    assert "112" in body["detail"]
    assert _reports(db) == 3  # the refused report was not stored


def test_one_ipv6_network_is_one_client(client_from: Clients) -> None:
    # Rotating through addresses of one /64 does not make new clients.
    codes = [
        client_from(f"2001:db8:1:2::{i:x}").post(REPORTS, json=REPORT).status_code
        for i in range(1, 5)
    ]
    assert codes == [201, 201, 201, 429]
    assert client_from("2001:db8:1:3::1").post(REPORTS, json=REPORT).status_code == 201


def test_all_public_clients_share_the_overall_quota(client_from: Clients) -> None:
    first, second, third = (client_from(f"198.51.100.{i}") for i in (1, 2, 3))
    assert [first.post(REPORTS, json=REPORT).status_code for _ in range(3)] == [201] * 3
    assert [second.post(REPORTS, json=REPORT).status_code for _ in range(2)] == [201] * 2
    assert third.post(REPORTS, json=REPORT).status_code == 429  # 5 in all


def test_a_rejected_report_does_not_count(client_from: Clients) -> None:
    client = client_from("203.0.113.8")
    for _ in range(5):
        assert client.post(REPORTS, json={"category": "grooming"}).status_code == 422
    assert [client.post(REPORTS, json=REPORT).status_code for _ in range(3)] == [201] * 3


def test_a_replayed_report_does_not_count_again(client_from: Clients) -> None:
    client = client_from("203.0.113.9")
    first = client.post(REPORTS, json=REPORT, headers={"Idempotency-Key": "same"})
    for _ in range(4):
        again = client.post(REPORTS, json=REPORT, headers={"Idempotency-Key": "same"})
        assert again.status_code == 201 and again.json() == first.json()
    assert [client.post(REPORTS, json=REPORT).status_code for _ in range(2)] == [201] * 2


def _partner_key(db: Database, settings: Settings) -> str:
    with db.transaction() as session:
        _, key = create_partner(
            session,
            KeyRing(load_keys(settings)),
            "platform",
            [],
            actor="test",
            now=datetime.now(UTC),
        )
    return key


def test_a_partner_reports_on_its_own_quota(
    client_from: Clients, db: Database, limited: Settings
) -> None:
    key = _partner_key(db, limited)
    public = client_from("203.0.113.10")
    assert [public.post(REPORTS, json=REPORT).status_code for _ in range(4)][-1] == 429
    partner = client_from("203.0.113.10")  # the same network: the key decides
    headers = {"Authorization": f"Bearer {key}"}
    codes = [partner.post(REPORTS, json=REPORT, headers=headers).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 201, 429]
    with db.sessions() as session:
        assert session.scalar(select(func.count()).where(Report.source == "partner")) == 4


def test_a_key_that_is_not_a_partners_is_401(client_from: Clients) -> None:
    response = client_from("203.0.113.11").post(
        REPORTS, json=REPORT, headers={"Authorization": "Bearer tzp_not-a-key"}
    )
    assert response.status_code == 401


def test_a_flood_from_one_client_gets_exactly_its_quota(client_from: Clients, db: Database) -> None:
    client = client_from("203.0.113.12")
    barrier = threading.Barrier(25)

    def post(_: int) -> int:
        if _ < 25:
            barrier.wait(timeout=30)
        return client.post(REPORTS, json=REPORT).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        codes = Counter(pool.map(post, range(100)))
    assert codes == Counter({201: 3, 429: 97})
    assert _reports(db) == 3


def test_the_form_keeps_what_was_typed_and_shows_112_first(client_from: Clients) -> None:
    client = client_from("203.0.113.13")
    form = {"category": "sextortion", "description": "He wants money, I am scared"}
    for _ in range(3):
        client.post("/report", data=form)
    refused = client.post("/report", data=form)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    page = refused.text
    assert "nie zostało jeszcze wysłane" in page
    assert "He wants money, I am scared" in page
    numbers = re.findall(r'href="tel:(\d+)"', page)
    assert numbers[0] == "112" and "997" in numbers
    assert re.search(r"za \d+ min", page)


def test_english_page_says_when(client_from: Clients) -> None:
    client = client_from("203.0.113.14")
    form = {"category": "grooming", "description": "x"}
    for _ in range(3):
        client.post("/report?lang=en", data=form)
    refused = client.post("/report?lang=en", data=form)
    assert refused.status_code == 429
    assert re.search(r"send the form again in \d+ min", refused.text)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8:0:0:ffff::1", "2001:db8::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
    ],
)
def test_client_networks(address: str, network: str) -> None:
    assert client_network(address) == network


@given(st.ip_addresses())
def test_a_network_holds_its_address(address: IPv4Address | IPv6Address) -> None:
    network = client_network(str(address))
    if isinstance(address, IPv6Address) and address.ipv4_mapped is None:
        net = ip_network(network)
        assert address in net and net.prefixlen == 64
    else:
        assert network == str(getattr(address, "ipv4_mapped", None) or address)
