"""``tarcza serve --workers N``: every worker listens on a socket of its own (SO_REUSEPORT), so
that the kernel spreads connections over the workers; a taken address fails at once."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tarcza.schema import migrate
from tests.support.server import free_port, running_server, server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading"),
]


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tarcza.sqlite3'}"
    migrate.upgrade(url)
    return url


def _listening_sockets(port: int) -> int:
    """How many TCP sockets listen on 127.0.0.1:``port`` (``/proc/net/tcp``: state 0A)."""
    address = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == address and row[3] == "0A")


def test_each_worker_listens_on_a_socket_of_its_own(tmp_path: Path) -> None:
    with running_server(_sqlite(tmp_path), tmp_path, workers=2, timeout=60) as server:
        port = int(server.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60  # the second worker may still be starting
        while _listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _listening_sockets(port) == 2
        # Every new connection is answered, whichever socket the kernel gives it to.
        for _ in range(16):
            with httpx.Client(base_url=server.url) as client:
                assert client.get("/api/v1/openapi.json").status_code == 200


def test_a_taken_address_stops_the_server_at_once(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "tarcza.cli", "serve", "--port", str(port), "--workers", "2"],
            env=server_env(_sqlite(tmp_path), tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "Address already in use" in result.stderr + result.stdout
    assert "Started server process" not in result.stderr + result.stdout


def test_a_second_server_on_the_same_port_stops_at_once(tmp_path: Path) -> None:
    """SO_REUSEPORT would let it bind too and take half of the connections: it is refused."""
    with running_server(_sqlite(tmp_path), tmp_path, workers=2, timeout=60) as server:
        port = server.url.rsplit(":", 1)[1]
        second = tmp_path / "second"
        second.mkdir()
        result = subprocess.run(
            [sys.executable, "-m", "tarcza.cli", "serve", "--port", port, "--workers", "2"],
            env=server_env(_sqlite(second), second),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        output = result.stderr + result.stdout
        assert f"another tarcza serve listens on port {port}" in output
        assert "Started server process" not in output
        # The first still answers.
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/v1/openapi.json").status_code == 200


def test_workers_end_with_a_supervisor_killed_outright(tmp_path: Path) -> None:
    """Left behind, a worker would keep listening on the port beside the next server's."""
    port = free_port()
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "tarcza.cli", "serve", "--port", str(port), "--workers", "2"],
        env=server_env(_sqlite(tmp_path), tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _listening_sockets(port) == 2
    finally:
        supervisor.kill()
        supervisor.wait()
    deadline = time.monotonic() + 30
    while _listening_sockets(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _listening_sockets(port) == 0
