"""Floods against a real ``tarcza serve --workers 2`` (issue 11, defect 2): the limits hold.

Each case starts the server as the README does (a subprocess on 127.0.0.1), on SQLite and on
PostgreSQL, and on Redis as the rate store; two worker processes share the counts. Bounded: at
most 400 requests and 90 s per case. The figures are printed (``pytest -s``) for the notes:
requests sent, answers by status, and what got through.

- One client floods the report API: exactly its quota is taken, the rest is 429 with the help
  numbers (112 first), never a 5xx.
- Many networks behind the deployment's proxy (X-Forwarded-For, trusted for 127.0.0.1 here):
  the overall quota holds.
- A partner's lookups across both workers stay within its quota (per worker before).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing.partners import create_partner
from tarcza.schema import migrate
from tarcza.store.engine import make_database
from tests.support.databases import IN_CI, fresh_postgres_database, require_postgres
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.server import Server, running_server
from tests.support.windows import clear_of_window_boundary

pytestmark = [pytest.mark.slow, pytest.mark.abuse]

REPORT = {"category": "grooming", "description": "An adult asked a child for photos."}
REDIS_RATES = "redis://127.0.0.1:6379/14"


def _flush_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_RATES, socket_timeout=3).flushdb()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"CI requires Redis at {REDIS_RATES}: {exc}")
        pytest.skip(f"Redis at {REDIS_RATES} is not reachable: {exc}")


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'tarcza.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    require_postgres()
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A database URL and the rate store's settings: the database itself, or Redis."""
    kind = "sqlite" if request.param == "redis" else request.param
    extra: dict[str, str] = {}
    if request.param == "redis":
        _flush_redis()
        extra["TARCZA_RATE_STORE"] = REDIS_RATES
    with _database(kind, tmp_path) as url:
        yield url, extra


def _burst(
    server: Server, count: int, send: Callable[[httpx.Client, int], httpx.Response]
) -> tuple[Counter[int], float, list[httpx.Response]]:
    started = time.monotonic()
    with (
        httpx.Client(
            base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=40)
        ) as client,
        ThreadPoolExecutor(max_workers=32) as pool,
    ):
        answers = list(pool.map(lambda i: send(client, i), range(count)))
    took = time.monotonic() - started
    assert took < 90, f"{count} requests took {took:.0f} s"
    return Counter(a.status_code for a in answers), took, answers


def test_one_client_flooding_gets_exactly_its_quota(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, extra = store
    limits = {"TARCZA_REPORT_RATE_PER_CLIENT": "5/hour;20/day", **extra}
    with running_server(url, tmp_path, workers=2, **limits) as server:
        clear_of_window_boundary(3600, 90)
        codes, took, answers = _burst(
            server, 300, lambda client, _: client.post("/api/v1/reports", json=REPORT)
        )
    print(f"\nflood of 300 from one client in {took:.1f} s ({300 / took:.0f}/s): {dict(codes)}")
    assert codes == Counter({201: 5, 429: 295})
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["help"][0]["number"] == "112"
    assert int(refused.headers["Retry-After"]) >= 1


def test_many_networks_share_the_overall_quota(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, extra = store
    limits = {
        "TARCZA_REPORT_RATE_PER_CLIENT": "2/hour",
        "TARCZA_REPORT_RATE_OVERALL": "60/hour",
        "TARCZA_TRUSTED_PROXIES": '["127.0.0.1"]',
        **extra,
    }

    def send(client: httpx.Client, i: int) -> httpx.Response:
        # 150 networks, each sending two or three reports, through the trusted proxy.
        forwarded = {"X-Forwarded-For": f"198.51.{i % 150 // 100}.{i % 100 + 1}"}
        return client.post("/api/v1/reports", json=REPORT, headers=forwarded)

    with running_server(url, tmp_path, workers=2, **limits) as server:
        clear_of_window_boundary(3600, 90)
        codes, took, _ = _burst(server, 400, send)
    print(f"\n400 reports from 150 networks in {took:.1f} s: {dict(codes)}")
    assert codes == Counter({201: 60, 429: 340})


def test_a_partners_lookups_share_one_quota_across_workers(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, extra = store
    settings = Settings(
        database_url=url,
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )
    db = make_database(url)
    try:
        with db.transaction() as session:
            _, key = create_partner(
                session,
                KeyRing(load_keys(settings)),
                "platform",
                [],
                actor="test",
                now=datetime.now(UTC),
            )
    finally:
        db.dispose()
    limits = {"TARCZA_PARTNER_LOOKUP_RATE": "60/hour", **extra}
    headers = {"Authorization": f"Bearer {key}"}
    params = {"signal_type": "md5", "signal": "0" * 32}
    with running_server(url, tmp_path, workers=2, **limits) as server:
        clear_of_window_boundary(3600, 90)
        codes, took, _ = _burst(
            server, 200, lambda client, _: client.get("/m/lookup", params=params, headers=headers)
        )
    print(f"\n200 lookups over 2 workers in {took:.1f} s: {dict(codes)}")
    assert set(codes) == {200, 429}
    # Never more than the quota; at most one unused lease (60 // 20 = 3) per worker lost.
    assert 60 - 2 * 3 <= codes[200] <= 60
