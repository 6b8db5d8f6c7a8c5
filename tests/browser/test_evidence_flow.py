"""The police officer in the browser: the referral inbox, the evidence package, the outcome.

A report with three synthetic images is referred to the police and accepted; the officer
sees it in the inbox with the time since the referral, exports the evidence package from the
report page (the passphrase is shown once), downloads it, and the test verifies the download
as a court would — ``openssl enc -d``, ``sha256sum -c``, ``openssl pkeyutl -verify -rawin``
against the published key. Then the officer records the outcome.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.app import Application, build
from tarcza.audit.models import AuditEntry
from tarcza.cases import evidence_package as ep
from tarcza.config import Settings
from tests.browser.test_staff_flow import sign_in
from tests.cases.test_evidence_package import IMAGES, court_checks, openssl_decrypt
from tests.support.server import Server
from tests.support.staff import AGENCY_KINDS, StaffUser, add_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("openssl") is None or shutil.which("sha256sum") is None,
        reason="openssl and sha256sum are needed",
    ),
]


@dataclass
class Unit:
    ctx: Application
    officer: StaffUser
    reference: str


@pytest.fixture(scope="module")
def unit(live_server: Server) -> Iterator[Unit]:
    settings = Settings(
        var_dir=Path(live_server.env["TARCZA_VAR_DIR"]),
        database_url=live_server.env["TARCZA_DATABASE_URL"],
        data_keys=live_server.env["TARCZA_DATA_KEYS"],
        hmac_key=live_server.env["TARCZA_HMAC_KEY"],
        _env_file=None,  # type: ignore[call-arg]
    )
    ctx = build(settings)
    known = {a.code for a in ctx.accounts.agencies()}
    for code in ("hotline", "police"):
        if code not in known:
            ctx.accounts.add_agency(code, code.title(), AGENCY_KINDS[code])
    analyst = add_staff(ctx, "hotline", Role.ANALYST, "anna-evidence")
    officer = add_staff(ctx, "police", Role.OFFICER, "piotr-evidence")
    body = {
        "category": "sextortion",
        "description": "Zmyślony opis: ktoś grozi publikacją zdjęć (test).",
        "urls": ["https://example.com/profil/szantazysta"],
        "language": "pl",
    }
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(IMAGES)]
    answer = httpx.post(
        live_server.url + "/api/v1/reports",
        data={"report": json.dumps(body)},
        files=files,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    reference = answer.json()["reference"]
    referral = ctx.cases.refer(
        ctx.accounts.acting_as(analyst.username), reference, "police", "Groźby wobec dziecka"
    )
    ctx.cases.answer(ctx.accounts.acting_as(officer.username), referral, True, "Przyjmujemy")
    yield Unit(ctx, officer, reference)
    ctx.db.dispose()


def test_an_officer_exports_the_package_and_openssl_verifies_it(
    browser: Any, live_server: Server, unit: Unit, tmp_path: Path
) -> None:
    ref = unit.reference
    piotr = sign_in(browser, live_server, unit.officer)

    # The inbox: the report with the time since it was referred to the police.
    row = piotr.locator("#queue tr", has=piotr.locator(f"a:text('{ref}')"))
    assert row.count() == 1
    assert row.locator("td.since time").inner_text().endswith("min")
    piotr.click(f"#queue a:text('{ref}')")
    piotr.wait_for_url(f"**/staff/reports/{ref}")

    # No case number: the browser's own check stops it; then the export.
    export = piotr.get_by_role("button", name="Przygotuj pakiet dowodowy")
    export.click()
    assert piotr.url.endswith(f"/staff/reports/{ref}")
    piotr.get_by_label("Numer sprawy").fill("RSD-77/26")
    export.click()
    piotr.wait_for_selector("#package-passphrase")
    passphrase = piotr.locator("#package-passphrase").inner_text().strip()
    assert len(passphrase) == 29
    with piotr.expect_download() as got:
        piotr.click("#package-download")
    download = tmp_path / "download.zip.enc"
    got.value.save_as(download)
    assert got.value.suggested_filename.startswith(f"tarcza-evidence-{ref}-")

    # What a court does with it, with the real binaries and the published key.
    published = tmp_path / "published.pem"
    published.write_bytes(ep.public_key_pem(unit.ctx.keys.audit_signing_key))
    plain = openssl_decrypt(download.read_bytes(), passphrase, tmp_path)
    folder = tmp_path / "package"
    with zipfile.ZipFile(plain) as archive:
        archive.extractall(folder)
    assert court_checks(folder, published) == (0, 0)
    assert len(list((folder / "evidence").iterdir())) == 3
    assert json.loads((folder / "report.json").read_text())["case_number"] == "RSD-77/26"

    # The passphrase was shown once: going back shows the report, not the passphrase again.
    piotr.goto(f"{live_server.url}/staff/reports/{ref}")
    assert passphrase not in piotr.content()
    assert "Wydano pakiet dowodowy" in piotr.content()  # the history names the export
    with unit.ctx.db.sessions() as session:
        exported = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject_id == ref, AuditEntry.action == "evidence.package_exported"
            )
        ).all()
    assert [(e.actor, json.loads(e.details)["case_number"]) for e in exported] == [
        ("piotr-evidence", "RSD-77/26")
    ]

    # The outcome: "no action" without a reason is refused, naming the field; then recorded.
    piotr.get_by_label("Wynik", exact=True).select_option("no_action")
    piotr.get_by_role("button", name="Zapisz wynik").click()
    piotr.wait_for_selector("#outcome-reason-error")
    piotr.get_by_label("Wynik", exact=True).select_option("investigation_opened")
    piotr.get_by_role("button", name="Zapisz wynik").click()
    piotr.wait_for_selector("p.flash")
    assert "Wszczęto postępowanie" in piotr.locator("#outcomes").inner_text()
