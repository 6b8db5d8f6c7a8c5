"""``tarcza serve`` logs no reporter's address or reference, and trusts no proxy unnamed.

Each test starts the real server process on 127.0.0.1 (SQLite, a fresh file).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tarcza.schema import migrate
from tests.support.server import free_port, running_server, server_env

pytestmark = [pytest.mark.slow, pytest.mark.abuse]


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tarcza.sqlite3'}"
    migrate.upgrade(url)
    return url


def test_the_access_log_holds_no_reporter_address_reference_or_pin(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(_sqlite(tmp_path), tmp_path)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tarcza.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            made = httpx.post(
                url + "/api/v1/reports",
                json={"category": "csam", "urls": ["https://example.com/x"]},
            )
            assert made.status_code == 201
            reference, pin = made.json()["reference"], made.json()["pin"]
            status = httpx.get(
                f"{url}/api/v1/reports/{reference}/status?lang=en", headers={"X-Report-PIN": pin}
            )
            assert status.status_code == 200
            assert httpx.get(f"{url}/no/{reference}").status_code == 404
            assert httpx.get(url + "/staff/login").status_code == 200
            time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(timeout=15)
    text = log.read_text()
    # The server's own listening address is no client's.
    public = [
        line
        for line in text.splitlines()
        if " /staff" not in line and "Uvicorn running on" not in line
    ]
    assert "POST /api/v1/reports 201" in text
    assert "GET /api/v1/reports/{reference}/status 200" in text
    assert "<unmatched> 404" in text
    assert "peer=" in text
    assert reference not in text and pin not in text
    assert not [line for line in public if "127.0.0.1" in line], public
    # Staff routes may name the address.
    assert "GET /staff/login 200" in text and "client=127.0.0.1" in text


def _rotating_guesses(url: str, n: int) -> list[int]:
    """``n`` wrong PINs, each on another reference and from another forwarded address."""
    return [
        httpx.get(
            f"{url}/api/v1/reports/TZ-0000-{i:04d}/status",
            headers={"X-Report-PIN": "123456", "X-Forwarded-For": f"198.51.100.{i + 1}"},
        ).status_code
        for i in range(n)
    ]


def test_a_rotated_x_forwarded_for_does_not_reset_the_per_client_limit(tmp_path: Path) -> None:
    with running_server(_sqlite(tmp_path), tmp_path) as server:
        codes = _rotating_guesses(server.url, 21)
    assert codes[:20] == [404] * 20 and codes[20] == 429  # per client: 20


def test_a_trusted_proxy_s_forwarded_address_is_the_client(tmp_path: Path) -> None:
    with running_server(
        _sqlite(tmp_path), tmp_path, TARCZA_TRUSTED_PROXIES='["127.0.0.1"]'
    ) as server:
        codes = _rotating_guesses(server.url, 21)
    assert codes == [404] * 21
