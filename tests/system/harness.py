"""Run tarcza the way its README does, in processes of its own, against a made-up world.

A :class:`Deployment` lives in a temporary folder. It runs ``tarcza db upgrade``, ``tarcza
demo`` and ``tarcza serve --port P`` (and, on PostgreSQL + Redis, ``tarcza jobs worker``) as
subprocesses of ``sys.executable -m tarcza.cli``, with an environment built from scratch —
never the test's own settings object — so the product is wired exactly as an operator's shell
would wire it. The outside world it talks to (:class:`World`) is on 127.0.0.1: an SMTP server
that keeps what it is sent, a DNS server that resolves the test hosts, and a web site serving
synthetic images. Each process writes its log to a file in the folder; every wait is bounded
and its failure message carries those logs. Processes run in their own process groups, so a
crash is simulated with SIGKILL to the whole group, and everything is stopped at the end.

Two kinds: ``sqlite`` (the default SQLite job queue, whose consumer runs inside ``tarcza
serve``) and ``postgresql`` (a fresh PostgreSQL database, jobs queued in Redis under a queue
name of its own, run by ``tarcza jobs worker``).
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, TypeVar

import httpx
import pyotp
import pytest
from PIL import Image, ImageDraw

from tests.support.databases import IN_CI, fresh_postgres_database, require_postgres
from tests.support.dns import LocalDns
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.server import free_port
from tests.support.smtp import CapturingSmtp
from tests.support.website import Website

Kind = Literal["sqlite", "postgresql"]
T = TypeVar("T")

REDIS_URL = "redis://127.0.0.1:6379/0"
# Bounds on every wait, in seconds. The jobs tick every second (TARCZA_JOBS_TICK_SECONDS),
# re-checks come 1.8 s apart: what the product does in a few seconds gets ten times that.
START_WITHIN = 60.0
NOTICE_WITHIN = 30.0
REMOVAL_WITHIN = 60.0
CLI_WITHIN = 180.0
# The test hosts, resolved by the local DNS server to the local web site.
HOSTS = ("img.example.test", "cdn.example.test")
# Addresses under example.test get their notices at this abuse desk (hotline/data).
ABUSE_DESK = "abuse@example.test"


# --- the outside world ---------------------------------------------------------------------


@dataclass
class World:
    """What a deployment talks to, all on 127.0.0.1: mail, DNS and one web site."""

    smtp: CapturingSmtp
    dns: LocalDns
    website: Website

    def url(self, path: str, host: str = HOSTS[0]) -> str:
        """The address of ``path`` on the web site under a test host name."""
        return f"http://{host}:{self.website.port}{path}"

    def summary(self) -> str:
        """What the outside world saw: the mail it holds and the fetches from the web site."""
        mail = [
            f"  To {m['To']}: {m['Subject']} {m['Message-ID']}" for m in list(self.smtp.messages)
        ]
        fetched = [f"  {host} {path}" for host, path in list(self.website.seen)]
        return "\n".join(
            [
                f"===== the SMTP server holds {len(mail)} messages =====",
                *mail,
                f"===== the web site served {len(fetched)} requests =====",
                *fetched,
            ]
        )

    def fetches_of(self, path: str) -> int:
        """How many times anything fetched ``path`` from the web site."""
        return sum(1 for _host, seen in list(self.website.seen) if seen == path)


def synthetic_png(seed: int) -> bytes:
    """A made-up picture (coloured rectangles), different for each seed."""
    img = Image.new("RGB", (200, 150), ((30 + seed * 40) % 256, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(4):
        draw.rectangle((i * 30 + seed, i * 20, i * 30 + 70, i * 20 + 40), fill=(230, 60 * i, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@contextmanager
def outside_world(bodies: Mapping[str, bytes]) -> Iterator[World]:
    """Start the SMTP, DNS and web servers; the web site serves ``bodies`` by path."""
    with (
        Website(bodies) as website,
        LocalDns({host: ["127.0.0.1"] for host in HOSTS}) as dns,
        CapturingSmtp() as smtp,
    ):
        yield World(smtp, dns, website)


# --- processes -----------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    """A shell's bare environment: PATH, HOME, a UTF-8 locale — and PYTHONPATH when set.

    PYTHONPATH is kept because it decides which checkout of tarcza the processes import
    (a git worktree under test, with the shared virtual environment).
    """
    env = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    for name in ("PATH", "HOME", "TMPDIR", "PYTHONPATH"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


class Process:
    """One long-running command in a process group of its own, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> None:
        """Start it (again), appending to its log."""
        self._log_file = self.log.open("ab")
        self._log_file.write(f"\n--- start: {' '.join(self.argv[2:])}\n".encode())
        self._log_file.flush()
        self._popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one
        )

    def note(self, line: str) -> None:
        """Add a line of the harness's own to the log (marked ``---``)."""
        if self._log_file is not None:
            self._log_file.write(f"--- {line}\n".encode())
            self._log_file.flush()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the command (its process group's leader), once started."""
        return None if self._popen is None else self._popen.pid

    @property
    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, no finally blocks."""
        self._signal(signal.SIGKILL, wait=10.0)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL what is left after ``grace`` seconds."""
        if self.running and not self._signal(signal.SIGTERM, wait=grace):
            self._signal(signal.SIGKILL, wait=10.0)
        self._close_log()

    def _signal(self, sig: signal.Signals, wait: float) -> bool:
        if self._popen is None:
            return True
        with suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)
        try:
            self._popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return False
        self._close_log()
        return True

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.write(f"--- ended: exit code {self.exit_code}\n".encode())
            self._log_file.close()
            self._log_file = None


# --- the demo's staff ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    """One sign-in that ``tarcza demo`` printed."""

    username: str
    agency: str
    role: str
    password: str
    totp_secret: str


_SIGN_IN_LINE = re.compile(
    r"^\s+(?P<username>[a-z]+)\s+(?P<agency>\S+)\s+(?P<role>\S+)\s+(?P<password>\S+)"
    r"\s+(?P<secret>[A-Z2-7]{16,})\s*$",
    re.MULTILINE,
)


def parse_demo_sign_ins(output: str) -> dict[str, DemoUser]:
    """The sign-ins of ``tarcza demo``'s table, by user name."""
    return {
        m["username"]: DemoUser(m["username"], m["agency"], m["role"], m["password"], m["secret"])
        for m in _SIGN_IN_LINE.finditer(output)
    }


# --- the deployment ----------------------------------------------------------------------


class Deployment:
    """tarcza installed in ``folder`` on one kind of database, run as an operator runs it."""

    def __init__(
        self,
        kind: Kind,
        folder: Path,
        world: World,
        database_url: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.folder = folder
        self.world = world
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.queue = f"tarcza-test-{uuid.uuid4().hex}"
        self.logs_dir = folder / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**self._environment(database_url), **(env or {})}
        self.processes: dict[str, Process] = {}
        self.demo: dict[str, DemoUser] = {}
        self._cli_runs = 0

    def _environment(self, database_url: str) -> dict[str, str]:
        world = self.world
        env = base_environment()
        env.update(
            TARCZA_ENV="development",
            TARCZA_VAR_DIR=str(self.folder / "var"),
            TARCZA_DATABASE_URL=database_url,
            TARCZA_DATA_KEYS=f"k1:{KEY_A}",
            TARCZA_HMAC_KEY=HMAC_KEY,
            TARCZA_MAIL="smtp",
            TARCZA_SMTP_HOST=world.smtp.host,
            TARCZA_SMTP_PORT=str(world.smtp.port),
            TARCZA_DNS="system",
            # pydantic-settings reads a list field's environment value as JSON.
            TARCZA_DNS_NAMESERVERS=json.dumps([world.dns.nameserver]),
            # The web site is on 127.0.0.1, which the monitor refuses outside tests (SSRF).
            TARCZA_MONITOR_ALLOW_PRIVATE="true",
            TARCZA_MONITOR_BACKOFF_HOURS="[0.0005]",  # 1.8 s before each re-check
            TARCZA_MONITOR_CONFIRM_HOURS="0.0005",  # a "gone" is confirmed 1.8 s later
            TARCZA_JOBS_TICK_SECONDS="1",
            TARCZA_NOTICE_LEASE_SECONDS="3",
            TARCZA_NOTICE_RETRY_MINUTES="[0.02]",  # 1.2 s
            TARCZA_QUICK_EXIT_URL="about:blank",  # never off this machine
        )
        if self.kind == "postgresql":
            env.update(TARCZA_JOBS_URL=REDIS_URL, TARCZA_JOBS_QUEUE=self.queue)
        return env

    # -- commands --------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = CLI_WITHIN, stdin: str | None = None) -> str:
        """Run ``tarcza ARGS`` to its end (``stdin`` its input); its output, or AssertionError."""
        self._cli_runs += 1
        log = self.logs_dir / f"cli-{self._cli_runs:02d}-{'-'.join(args[:2])}.log"
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "tarcza.cli", *args],
                env=self.env,
                cwd=self.folder,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"tarcza {' '.join(args)} ran over {timeout} s") from exc
        output = done.stdout + done.stderr
        took = time.monotonic() - started
        log.write_text(
            f"$ tarcza {' '.join(args)}\n{output}\n"
            f"--- exit code {done.returncode} after {took:.1f} s\n"
        )
        if done.returncode != 0:
            raise AssertionError(
                f"tarcza {' '.join(args)} exited with {done.returncode}:\n{output}"
            )
        return done.stdout

    def install(self) -> None:
        """``tarcza db upgrade`` then ``tarcza demo``, keeping the sign-ins the demo printed."""
        self.cli("db", "upgrade")
        output = self.cli("demo")
        self.demo = parse_demo_sign_ins(output)
        for needed in ("anna", "marek"):
            if needed not in self.demo:
                raise AssertionError(f"tarcza demo printed no sign-in for {needed}:\n{output}")

    def _process(self, name: str, *args: str) -> Process:
        if name not in self.processes:
            argv = [sys.executable, "-m", "tarcza.cli", *args]
            self.processes[name] = Process(
                name, argv, self.env, self.folder, self.logs_dir / f"{name}.log"
            )
        return self.processes[name]

    def start_server(self) -> None:
        """``tarcza serve --port P`` (the same port every time); returns once ``/`` answers."""
        server = self._process("server", "serve", "--port", str(self.port))
        started = time.monotonic()
        server.start()
        self.wait_until(
            "the server answers / with 200",
            lambda: server.exit_code is None and _answers(self.url + "/"),
            START_WITHIN,
            watch=("server",),
        )
        server.note(f"answered / after {time.monotonic() - started:.1f} s")

    def start_worker(self) -> None:
        """``tarcza jobs worker``: it reads the queue; there is nothing to poll for readiness."""
        self._process("worker", "jobs", "worker").start()

    @property
    def job_runner(self) -> str:
        """The process that sends notices: the worker, or the server's own consumer."""
        return "worker" if self.kind == "postgresql" else "server"

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and its group (a crash)."""
        self.processes[name].kill()

    def start(self, name: str) -> None:
        """Start process ``name`` (again)."""
        if name == "server":
            self.start_server()
        else:
            self.start_worker()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()

    # -- waiting -----------------------------------------------------------------------------

    def wait_until(
        self,
        what: str,
        condition: Callable[[], T],
        timeout: float,
        *,
        watch: tuple[str, ...] | None = None,
        every: float = 0.25,
    ) -> T:
        """Poll ``condition`` until it is truthy and return it; AssertionError after ``timeout``.

        The processes named in ``watch`` (default: all started) must stay up meanwhile: one
        that exits fails the wait at once. The failure message carries the processes' logs.
        """
        names = watch if watch is not None else tuple(self.processes)
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            dead = [n for n in names if n in self.processes and not self.processes[n].running]
            if dead:
                codes = ", ".join(f"{n} (exit {self.processes[n].exit_code})" for n in dead)
                raise AssertionError(f"waiting for {what}: {codes} stopped\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s\n{self.logs()}")
            time.sleep(every)

    def assert_stays(self, what: str, condition: Callable[[], bool], seconds: float) -> None:
        """``condition`` holds now and for ``seconds`` more (an observation window, polled)."""
        deadline = time.monotonic() + seconds
        while True:
            if not condition():
                raise AssertionError(f"{what}: no longer true\n{self.logs()}")
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def logs(self, tail: int = 80) -> str:
        """The last ``tail`` lines of every log file (0: all of them)."""
        parts = []
        for path in sorted(self.logs_dir.glob("*.log")):
            lines = fold_repeats(path.read_text(errors="replace").splitlines())
            shown = lines[-tail:] if tail else lines
            cut = f" (last {tail} of {len(lines)} lines)" if tail and len(lines) > tail else ""
            parts.append(f"===== {path.name}{cut} =====\n" + "\n".join(shown))
        parts.append(self.world.summary())
        return "\n".join(parts)


_CLIENT_PORT = re.compile(r"127\.0\.0\.1:\d+ - ")


def fold_repeats(lines: list[str]) -> list[str]:
    """Runs of one line (an access log line polled again and again) folded into one."""
    folded: list[str] = []
    runs: list[int] = []
    for line in lines:
        same = _CLIENT_PORT.sub("", line)
        if folded and _CLIENT_PORT.sub("", folded[-1]) == same:
            runs[-1] += 1
            continue
        folded.append(line)
        runs.append(1)
    return [line if n == 1 else f"{line}   [x{n}]" for line, n in zip(folded, runs, strict=True)]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def require_redis() -> None:
    """Skip with the reason — or fail in CI, where Redis is required."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(f"CI requires Redis: {reason}")
        pytest.skip(reason)


def _forget_queue(queue: str) -> None:
    """Delete the Redis keys of this deployment's own queue (its name is unique)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)
    client.close()


@contextmanager
def deployment(
    kind: Kind, folder: Path, world: World, env: Mapping[str, str] | None = None
) -> Iterator[Deployment]:
    """An installed, running deployment of ``kind``; every process stopped afterwards.

    ``env``: settings of the test's own on top of the deployment's environment.
    """
    with ExitStack() as stack:
        if kind == "postgresql":
            require_postgres()
            require_redis()
            database_url = stack.enter_context(fresh_postgres_database())
        else:
            database_url = f"sqlite:///{folder / 'var' / 'tarcza.sqlite3'}"
        (folder / "var").mkdir(parents=True, exist_ok=True)
        deployed = Deployment(kind, folder, world, database_url, env)
        if kind == "postgresql":
            stack.callback(_forget_queue, deployed.queue)
        stack.callback(deployed.stop_all)
        deployed.install()
        if kind == "postgresql":
            deployed.start_worker()  # it needs no server: it starts while the server does
        deployed.start_server()
        yield deployed


# --- a person at the public pages and at the staff pages, over HTTP ------------------------


@dataclass(frozen=True)
class Receipt:
    """What a reporter keeps: the reference and the PIN."""

    reference: str
    pin: str


def report_by_api(base_url: str, *urls: str) -> Receipt:
    """``POST /api/v1/reports`` of a CSAM report naming ``urls``; its reference and PIN."""
    body = {
        "category": "csam",
        "description": "Zmyślony opis do testu systemowego.",
        "urls": list(urls),
        "child_in_danger": False,
        "language": "pl",
    }
    answer = httpx.post(base_url + "/api/v1/reports", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    data = answer.json()
    return Receipt(data["reference"], data["pin"])


def public_status(base_url: str, receipt: Receipt) -> dict[str, object]:
    """The JSON status answer for a reference and PIN."""
    answer = httpx.get(
        f"{base_url}/api/v1/reports/{receipt.reference}/status",
        headers={"X-Report-PIN": receipt.pin},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, object] = answer.json()
    return data


def status_page_text(base_url: str, receipt: Receipt) -> str:
    """What the status page (the form at /status, sent) says about the report, as text."""
    answer = httpx.post(
        base_url + "/status",
        data={"reference": receipt.reference, "pin": receipt.pin},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    found = re.search(r'<section class="status-result".*?</section>', answer.text, re.DOTALL)
    assert found, f"the status page shows no status:\n{answer.text}"
    return text_of(found.group(0))


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, white space folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def element_text(page: str, element_id: str) -> str:
    """The text of the element with ``id`` in an HTML page ("" when it is not there)."""
    found = re.search(
        rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.DOTALL
    )
    return text_of(found.group(2)) if found else ""


def totp_codes(secret: str) -> list[str]:
    """The authenticator's code now, then the next one (a code works once per 30 s step)."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    return [totp.at(now), totp.at(now + 30)]


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class StaffClient:
    """A member of staff at the staff pages over HTTP: signs in with password and TOTP."""

    def __init__(self, base_url: str, user: DemoUser) -> None:
        self.user = user
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def sign_in(self) -> StaffClient:
        """Password, then a TOTP code, as the sign-in pages ask."""
        form = self.http.get("/staff/login")
        assert form.status_code == 200, form.text
        answer = self.http.post(
            "/staff/login",
            data={
                "csrf": _csrf(form.text),
                "username": self.user.username,
                "password": self.user.password,
            },
        )
        assert answer.status_code == 303, f"password refused: {answer.status_code}"
        assert answer.headers["location"].endswith("/staff/login/code"), answer.headers
        for code in totp_codes(self.user.totp_secret):
            form = self.http.get("/staff/login/code")
            answer = self.http.post(
                "/staff/login/code", data={"csrf": _csrf(form.text), "code": code}
            )
            if answer.status_code == 303:
                return self
        raise AssertionError(f"TOTP code refused for {self.user.username}: {answer.text}")

    def page(self, path: str) -> str:
        """An HTML page that must answer 200."""
        answer = self.http.get(path)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code}\n{answer.text}"
        return answer.text

    def item_id(self, url: str) -> int:
        """The id of the content item whose normalised address is ``url`` (all states)."""
        page = self.page("/staff/items?state=all")
        for row in page.split("<tr>")[1:]:
            link = re.search(r'href="/staff/items/(\d+)"', row)
            address = re.search(r'<span class="hash">([^<]*)</span>', row)
            if link and address and html.unescape(address.group(1)) == url:
                return int(link.group(1))
        raise AssertionError(f"no content item for {url} on /staff/items:\n{text_of(page)}")

    def item_page(self, item_id: int) -> str:
        return self.page(f"/staff/items/{item_id}")

    def assess(self, item_id: int, classification: str = "baseline") -> None:
        """Send the assessment form of the item page."""
        page = self.item_page(item_id)
        answer = self.http.post(
            f"/staff/items/{item_id}/assess",
            data={
                "csrf": _csrf(page),
                "classification": classification,
                "content_type": "image",
                "age_group": "pre_pubescent",
                "site_type": "image_host",
            },
        )
        assert answer.status_code == 303, f"assessment refused: {answer.status_code}\n{answer.text}"

    def hotline_figures(self) -> dict[str, object]:
        """``GET /api/v1/stats/hotline`` (this month) with the session cookie."""
        answer = self.http.get("/api/v1/stats/hotline")
        assert answer.status_code == 200, answer.text
        data: dict[str, object] = answer.json()
        return data


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    assert found, f"no CSRF field on the page:\n{text_of(page)[:2000]}"
    return html.unescape(found.group(1))


@contextmanager
def staff(deployed: Deployment, username: str) -> Iterator[StaffClient]:
    """A demo user signed in over HTTP."""
    client = StaffClient(deployed.url, deployed.demo[username]).sign_in()
    try:
        yield client
    finally:
        client.close()


def sent_text(page: str) -> str:
    """The item page's list of actions, as text."""
    return element_text(page, "item-actions")
