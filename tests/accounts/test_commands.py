"""``tarcza agency|user ...`` and the demo staff, as whoever runs the server uses them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tarcza.accounts.auth import AuthService, LoginFailed
from tarcza.accounts.demo import DEMO_STAFF
from tarcza.accounts.rules import totp_code
from tarcza.cli import main
from tarcza.config import load_keys, load_settings
from tarcza.crypto import KeyRing
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tests.support.keys import HMAC_KEY, KEY_A

SIGNING_KEY = "c2lnbmluZy1rZXktZm9yLXRlc3RzLW9ubHktMzJieXQ="


@pytest.fixture
def cli_env(
    tmp_path: Path, database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The command line on the test database (each kind), keys under a temporary folder."""
    for name in ("TARCZA_DATA_KEYS", "TARCZA_HMAC_KEY", "TARCZA_ENV", "TARCZA_AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("TARCZA_DATABASE_URL", database_url)
    yield tmp_path


def auth(db: Database) -> AuthService:
    return AuthService(db, KeyRing(load_keys(load_settings())))


def test_agency_and_first_administrator_from_the_command_line(
    cli_env: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agency", "add", "hotline", "--kind", "hotline", "--name", "Dyżurnet.pl"]) == 0
    assert "agency hotline (hotline): Dyżurnet.pl" in capsys.readouterr().out
    code = main(
        [
            "user",
            "add",
            "Adam",
            "--agency",
            "hotline",
            "--role",
            "administrator",
            "--name",
            "Adam Kowalski",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "user adam added to hotline as administrator"
    password = lines[2]
    assert len(password) >= 12 and "authenticator app" in out
    assert auth(db).password("adam", password, "cli-test").needs_enrolment
    assert main(["user", "list", "--agency", "hotline"]) == 0
    listing = capsys.readouterr().out
    assert "adam" in listing and "administrator" in listing and "not yet" in listing
    assert password not in listing


def test_a_password_from_standard_input_is_used_and_not_printed(
    cli_env: Path,
    db: Database,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main(["agency", "add", "police", "--kind", "police"])
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-chosen-passphrase\n"))
    assert (
        main(
            ["user", "add", "piotr", "--agency", "police", "--role", "officer", "--password-stdin"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "a-long-chosen-passphrase" not in out
    assert auth(db).password("piotr", "a-long-chosen-passphrase", "cli-test").token
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert (
        main(
            ["user", "add", "other", "--agency", "police", "--role", "officer", "--password-stdin"]
        )
        == 1
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["user", "add", "anna", "--agency", "nowhere", "--role", "analyst"], "agency: No agency"),
        (["user", "add", "anna", "--agency", "hotline", "--role", "officer"], "role: A hotline"),
        (["user", "add", "a", "--agency", "hotline", "--role", "analyst"], "username: 2 to 40"),
        (["user", "add", "adam", "--agency", "hotline", "--role", "analyst"], "username: This"),
        (["user", "list", "--agency", "nowhere"], "agency: No agency"),
        (["agency", "add", "hotline", "--kind", "police"], "kind: hotline exists as hotline"),
        (["agency", "add", "Bad Code!", "--kind", "police"], "agency: 2 to 32"),
    ],
)
def test_refusals_are_one_line_on_stderr_with_exit_code_1(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    main(["agency", "add", "hotline", "--kind", "hotline"])
    main(["user", "add", "adam", "--agency", "hotline", "--role", "administrator"])
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tarcza: {message}") and "Traceback" not in err


def test_weak_passwords_from_stdin_are_refused(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["agency", "add", "hotline", "--kind", "hotline"])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert (
        main(
            ["user", "add", "anna", "--agency", "hotline", "--role", "analyst", "--password-stdin"]
        )
        == 1
    )
    assert "tarcza: password: At least 12" in capsys.readouterr().err


def test_the_demo_makes_enrolled_staff_once_and_prints_their_sign_ins(
    cli_env: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "for the demo only" in first
    assert main(["demo"]) == 0
    assert capsys.readouterr().out.split("Demo staff")[1] == first.split("Demo staff")[1]
    rows = {
        line.split()[0]: line.split()
        for line in first.split("Demo staff")[1].splitlines()[2:]
        if line.startswith("  ")
    }
    assert set(rows) == {username for username, *_ in DEMO_STAFF}
    service = auth(db)
    username, agency, role, password, secret = rows["anna"]
    assert (agency, role) == ("hotline", "analyst")
    step = service.password(username, password, "demo-test")
    assert not step.needs_enrolment
    principal = service.principal(
        service.second_factor(step.token, totp_code(secret, utcnow()), "demo-test").token
    )
    assert principal is not None and principal.agency == "hotline"


def test_the_demo_leaves_an_account_it_did_not_make_alone(
    cli_env: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["agency", "add", "hotline", "--kind", "hotline", "--name", "Dyżurnet.pl"])
    capsys.readouterr()
    main(["user", "add", "anna", "--agency", "hotline", "--role", "analyst"])
    real_password = capsys.readouterr().out.splitlines()[2]
    assert main(["demo"]) == 0
    table = capsys.readouterr().out.split("Demo staff")[1]
    assert "  anna " not in table and "  marek " in table
    with pytest.raises(LoginFailed):
        auth(db).password("anna", "demo-tarcza-haslo-2025", "demo-test")
    assert auth(db).password("anna", real_password, "demo-test").needs_enrolment


def test_the_demo_refuses_production(
    cli_env: Path,
    db: Database,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TARCZA_ENV", "production")
    monkeypatch.setenv("TARCZA_DATA_KEYS", f"k1:{KEY_A}")
    monkeypatch.setenv("TARCZA_HMAC_KEY", HMAC_KEY)
    monkeypatch.setenv("TARCZA_AUDIT_SIGNING_KEY", SIGNING_KEY)
    assert main(["demo"]) == 1
    assert "no demo in production" in capsys.readouterr().err
    monkeypatch.setenv("TARCZA_ENV", "development")
    assert main(["user", "list", "--agency", "hotline"]) == 1  # no demo agency was made
