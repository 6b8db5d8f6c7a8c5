"""The monthly reports page, the CLI, and the old unsuppressed counts closed to the coordinator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit.models import AuditEntry
from tests.coordination.seed import seed
from tests.support.pdf import text_of
from tests.support.staff import add_agencies, add_staff, context, sign_in

PAGE = "/staff/national/reports"


def _client(client: TestClient, agency: str, role: Role) -> tuple[TestClient, str]:
    one = TestClient(client.app, base_url="http://127.0.0.1")
    csrf = sign_in(one, add_staff(context(client), agency, role))
    return one, csrf


@pytest.fixture
def ministry(client: TestClient) -> tuple[TestClient, str]:
    ctx = context(client)
    add_agencies(ctx)
    seed(ctx.db)
    return _client(client, "ministry", Role.COORDINATOR)


def test_the_coordinator_generates_and_downloads_a_report(
    client: TestClient, ministry: tuple[TestClient, str]
) -> None:
    coordinator, csrf = ministry
    assert "Nie ma jeszcze raportu." in coordinator.get(PAGE).text

    made = coordinator.post(PAGE, data={"month": "2026-03", "csrf": csrf}, follow_redirects=False)
    assert made.status_code == 303, made.text
    page = coordinator.get(made.headers["location"])
    assert "Raport za 2026-03 jest gotowy." in page.text
    assert 'href="/staff/national/reports/2026-03/en.pdf"' in page.text

    pdf = coordinator.get("/staff/national/reports/2026-03/en.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = text_of(pdf.content, pages=1)
    assert "Monthly report: national figures, March 2026" in text
    with context(client).db.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_type == "national_report")
        ).all()
    assert actions == ["coordination.report_generated", "coordination.report_downloaded"]


BAD_MONTHS = [("2099-01", "Wybierz miesiąc, który już"), ("marzec", "Podaj miesiąc, np. 2026")]


@pytest.mark.parametrize(("month", "message"), BAD_MONTHS)
def test_a_bad_month_is_named_on_the_page(
    ministry: tuple[TestClient, str], month: str, message: str
) -> None:
    coordinator, csrf = ministry
    answer = coordinator.post(PAGE, data={"month": month, "csrf": csrf})
    assert answer.status_code == 422 and message in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_others_may_not_have_the_reports(
    client: TestClient, ministry: tuple[TestClient, str]
) -> None:
    supervisor, csrf = _client(client, "hotline", Role.SUPERVISOR)
    assert supervisor.get(PAGE).status_code == 403
    assert supervisor.post(PAGE, data={"month": "2026-03", "csrf": csrf}).status_code == 403
    assert supervisor.get(f"{PAGE}/2026-03/pl.pdf").status_code == 403
    anonymous = TestClient(client.app, base_url="http://127.0.0.1")
    assert anonymous.get(PAGE, follow_redirects=False).status_code in (303, 401)
    assert ministry[0].get(f"{PAGE}/2026-03/de.pdf").status_code == 404


def test_the_old_counts_send_the_coordinator_to_the_national_figures(
    client: TestClient, ministry: tuple[TestClient, str]
) -> None:
    coordinator, _ = ministry
    page = coordinator.get("/staff/stats", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/staff/national")
    api = coordinator.get("/api/v1/staff/stats")
    assert api.status_code == 403 and "/api/v1/stats/national" in api.text
    assert 'href="/staff/stats"' not in coordinator.get("/staff/national").text
    supervisor, _ = _client(client, "hotline", Role.SUPERVISOR)
    assert supervisor.get("/api/v1/staff/stats").status_code == 200


def test_the_cli_writes_a_months_report(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARCZA_")}
    env["TARCZA_VAR_DIR"] = str(tmp_path)

    def tarcza(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tarcza.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    assert tarcza("db", "upgrade").returncode == 0
    out = tmp_path / "marzec.pdf"
    done = tarcza("coordination", "report", "--month", "2026-03", "--lang", "pl", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "written to" in done.stdout
    text = text_of(out.read_bytes(), pages=1)
    assert "Raport miesięczny: krajowe dane, marzec 2026" in text
    bad = tarcza("coordination", "report", "--month", "2099-01", "--out", str(out))
    assert bad.returncode == 2 and "--month" in bad.stderr and "Traceback" not in bad.stderr


def test_the_workers_tick_makes_last_months_report_once(client: TestClient) -> None:
    ctx = context(client)
    folder = ctx.settings.var_dir / "reports"
    ctx.monthly_report()
    made = sorted(p.name for p in folder.iterdir())
    assert len(made) == 2 and made[0].endswith("-en.pdf") and made[1].endswith("-pl.pdf")
    stamps = [p.stat().st_mtime_ns for p in sorted(folder.iterdir())]
    ctx.monthly_report()  # the next tick finds it made
    assert [p.stat().st_mtime_ns for p in sorted(folder.iterdir())] == stamps
    with ctx.db.sessions() as session:
        made_by = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "coordination.report_generated")
        ).all()
    assert made_by == ["system:jobs"]
