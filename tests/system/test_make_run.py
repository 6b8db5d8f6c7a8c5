"""``make run`` on a fresh clone answers its first page, as the README's quick start promises.

The repository holding this test is cloned (its committed HEAD) into a temporary folder, with
``../shared`` beside it as in the source tree, and ``make run PORT=<free>`` runs there with a
shell's bare environment (no PYTHONPATH: the clone's own ``.venv`` must carry everything;
pip's settings and certificates are kept, so a warm pip cache and a local wheel folder help).
The seconds until ``/`` answers 200 are printed and recorded as the test's property
``make_run_seconds``. Everything the command started is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

pytestmark = [pytest.mark.system, pytest.mark.slow]

MAKE_RUN_WITHIN = 300.0
# What a developer's shell hands make besides PATH and HOME: pip's own settings, proxies and
# certificate bundles (without them a fresh machine behind a proxy cannot install anything).
_PASSED_ON = re.compile(
    r"^(PATH|HOME|LANG|TMPDIR|PYENV_ROOT|PYENV_VERSION|PIP_\w+|(?i:\w*_proxy)|SSL_CERT_\w+"
    r"|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$"
)


def repository_root() -> Path:
    """The git checkout this test file belongs to."""
    here = Path(__file__).resolve().parent
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=here,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return Path(done.stdout.strip())


def shell_environment() -> dict[str, str]:
    """A fresh shell's environment: no TARCZA_ setting, no PYTHONPATH, no virtualenv."""
    env = {name: value for name, value in os.environ.items() if _PASSED_ON.match(name)}
    env.setdefault("LANG", "C.UTF-8")
    return env


def _tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(text[-lines:])


def test_make_run_on_a_fresh_clone_answers_its_first_page(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    root = repository_root()
    clone = tmp_path / "tarcza"
    subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], check=True, timeout=120)
    shared = root.parent / "shared"
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    port = free_port()
    log = tmp_path / "make-run.log"
    started = time.monotonic()
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=shell_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, pip and the server: one group, stopped as one
        )
        try:
            seconds = _first_page(make, f"http://127.0.0.1:{port}/", started, log)
        finally:
            _stop(make)
    print(f"make run on a fresh clone: first page after {seconds:.1f} s")
    record_property("make_run_seconds", round(seconds, 1))
    # The virtual environment is large; the log stays in tmp_path for whoever looks.
    shutil.rmtree(clone, ignore_errors=True)


def _first_page(make: subprocess.Popen[bytes], url: str, started: float, log: Path) -> float:
    """Seconds from ``started`` until ``url`` answers 200; AssertionError with the log."""
    deadline = started + MAKE_RUN_WITHIN
    while True:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        if make.poll() is not None:
            raise AssertionError(f"make run exited with {make.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"make run: no page at {url} within {MAKE_RUN_WITHIN:g} s:\n{_tail(log)}"
            )
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group (the server shuts down cleanly), then SIGKILL whatever is left."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
