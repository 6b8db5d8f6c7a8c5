"""A real tarcza server process on 127.0.0.1, for browser, fault and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.keys import HMAC_KEY, KEY_A


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server: its base URL and its process."""

    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def kill(self) -> None:
        """SIGKILL the server and its workers — no clean shutdown."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def server_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server."""
    env = dict(os.environ)
    env.update(
        TARCZA_DATABASE_URL=database_url,
        TARCZA_VAR_DIR=str(var_dir),
        TARCZA_DATA_KEYS=f"k1:{KEY_A}",
        TARCZA_HMAC_KEY=HMAC_KEY,
        # The browser tests report many times from 127.0.0.1; the limits have tests of their
        # own (tests/abuse), which set them through ``extra``.
        TARCZA_REPORT_RATE_PER_CLIENT="",
        TARCZA_REPORT_RATE_OVERALL="",
        # The quick exit leaves for a neutral site: in tests, never off this machine.
        TARCZA_QUICK_EXIT_URL="about:blank",
    )
    env.update(extra)
    return env


@contextmanager
def running_server(
    database_url: str, var_dir: Path, *, workers: int = 1, timeout: float = 30.0, **extra: str
) -> Iterator[Server]:
    """Start ``tarcza serve`` on a free port; stop it (SIGKILL) when done."""
    port = free_port()
    env = server_env(database_url, var_dir, **extra)
    log = (var_dir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tarcza.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(var_dir / f'server-{port}.log').read_text()}")
            try:
                if httpx.get(server.url + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.1)
        yield server
    finally:
        server.kill()
        log.close()
