"""``tarcza bank ...`` and ``tarcza partner add`` as an analyst uses them (SQLite file)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tarcza.cli import main
from tarcza.config import load_keys, load_settings
from tarcza.crypto import KeyRing
from tarcza.hashing.partners import authenticate
from tarcza.store.engine import make_database


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("TARCZA_DATABASE_URL", "TARCZA_DATA_KEYS", "TARCZA_HMAC_KEY", "TARCZA_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    yield tmp_path


def test_create_import_list_export_and_disable(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    assert main(["bank", "create", "known", "--source", "NCMEC", "--threshold", "20"]) == 0
    source = var_dir / "list.csv"
    source.write_text(f"signal_type,signal,label\npdq,{pdq.upper()},a\nmd5,{md5},\n")
    assert main(["bank", "import", "known", str(source), "--format", "csv"]) == 0
    assert "2 signals added" in capsys.readouterr().out
    assert main(["bank", "list"]) == 0
    listing = capsys.readouterr().out
    assert "known" in listing and "NCMEC" in listing and " 2 " in listing
    out = var_dir / "out.txt"
    assert main(["bank", "export", "known", "--format", "te", "-o", str(out)]) == 0
    assert sorted(out.read_text().splitlines()) == sorted([f"video_md5 {md5}", f"pdq {pdq}"])
    assert main(["bank", "disable", "known", "--reason", "source withdrawn"]) == 0
    assert main(["bank", "list"]) == 0
    assert "disabled" in capsys.readouterr().out


def test_a_file_with_bad_lines_is_refused_whole_with_line_numbers(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "create", "known"]) == 0
    source = var_dir / "list.txt"
    source.write_text(f"pdq {secrets.token_hex(32)}\npdq 1234\n{secrets.token_hex(32)}\nxx\n")
    assert main(["bank", "import", "known", str(source), "--format", "te", "--type", "pdq"]) == 1
    err = capsys.readouterr().err
    assert f"{source}:2: invalid_pdq" in err and f"{source}:4: invalid_pdq" in err
    assert "nothing imported" in err
    assert main(["bank", "list"]) == 0
    assert " 0 " in capsys.readouterr().out


def test_bare_lines_are_read_as_the_type_given(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "create", "known"]) == 0
    md5s = [secrets.token_hex(16) for _ in range(3)]
    source = var_dir / "md5s.txt"
    source.write_text("".join(f"{m}\n" for m in md5s))
    assert main(["bank", "import", "known", str(source), "--format", "te"]) == 1
    assert f"{source}:1: untyped_signal" in capsys.readouterr().err
    assert main(["bank", "import", "known", str(source), "--format", "te", "--type", "md5"]) == 0
    assert "3 signals added" in capsys.readouterr().out
    assert main(["bank", "export", "known", "--format", "csv"]) == 0
    assert sorted(capsys.readouterr().out.splitlines()[1:]) == sorted(f"md5,{m}," for m in md5s)
    assert main(["bank", "import", "known", str(source), "--format", "csv", "--type", "md5"]) == 1
    assert "type:" in capsys.readouterr().err


def test_a_dataset_dump_imports_its_hashes_and_counts_the_rest(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "create", "known"]) == 0
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    source = var_dir / "dump.txt"
    source.write_text(
        f"url https://example.org/x\nraw_text invented words\npdq {pdq}\n"
        f"video_md5 {md5}\nurl https://example.org/y\n"
    )
    assert main(["bank", "import", "known", str(source), "--format", "te"]) == 0
    out = capsys.readouterr().out
    assert "2 signals added" in out
    assert "skipped (tarcza cannot match them): raw_text 1, url 2" in out


def test_errors_name_the_field(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "export", "missing", "--format", "csv"]) == 1
    assert "there is no bank called 'missing'" in capsys.readouterr().err
    assert main(["bank", "create", "bad name"]) == 1
    assert "name:" in capsys.readouterr().err


def test_partner_add_prints_a_working_key_once(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "create", "known"]) == 0
    assert main(["bank", "create", "allowed", "--allow"]) == 0
    capsys.readouterr()
    assert main(["partner", "add", "platform", "--bank", "known", "--bank", "allowed"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    settings = load_settings()
    db = make_database(settings.resolved_database_url, settings)
    try:
        with db.sessions() as session:
            scope = authenticate(session, KeyRing(load_keys(settings)), key)
    finally:
        db.dispose()
    assert scope is not None and set(scope.banks) == {"known", "allowed"}
    assert main(["partner", "add", "other", "--bank", "missing"]) == 1


def test_bank_commands_make_the_database_alone_not_the_application(var_dir: Path) -> None:
    """A bank import is given the application's database without importing the application
    (its pages, kernels and services: a second or two of a 1M-hash import's 18 s)."""
    assert main(["bank", "create", "known"]) == 0
    source = var_dir / "list.txt"
    source.write_text(f"pdq {secrets.token_hex(32)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARCZA_")}
    env["TARCZA_VAR_DIR"] = str(var_dir)
    probe = (
        "import sys; from tarcza.cli import main; code = main(sys.argv[1:]); "
        "print('application imported:', 'tarcza.app' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "bank", "import", "known", str(source), "--format", "te"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 signals added" in done.stdout
    assert "application imported: False" in done.stdout
