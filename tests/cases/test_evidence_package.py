"""The police officer's evidence package (issue 13): what a court receives, and checks without us.

A report with three synthetic images reaches the hotline, is referred to the police and
accepted; the officer exports the package through the staff API. The test then does what the
README tells a court to do, with the real ``openssl`` and ``sha256sum`` binaries: decrypt,
unzip, ``sha256sum -c manifest.sha256``, ``openssl pkeyutl -verify -rawin`` against the
published public key — and changes one byte of each file in turn to see verification fail.
On SQLite and PostgreSQL (the ``client`` fixture).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.audit.models import AuditEntry
from tarcza.audit.service import verify_log
from tarcza.cases import evidence_package as ep
from tarcza.hotline.models import ContentItem, ItemAction, ItemTrace
from tarcza.store.base import utcnow
from tests.cases.test_casework_api import Desk
from tests.support.staff import add_agencies, add_staff, context

STAFF = "/api/v1/staff"
OPENSSL = shutil.which("openssl")
SHA256SUM = shutil.which("sha256sum")
needs_tools = pytest.mark.skipif(
    OPENSSL is None or SHA256SUM is None, reason="openssl and sha256sum are needed"
)
COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 210)]


def synthetic_image(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    """A synthetic test picture: coloured blocks and a gradient (nothing real)."""
    img = Image.new("RGB", size, colour)
    for x in range(0, size[0], 40):
        img.paste((x % 256, 255 - x % 256, 128), (x, 0, x + 20, size[1] // 2))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


IMAGES = [synthetic_image(c) for c in COLOURS]


def submit_three(client: TestClient) -> str:
    body = {
        "category": "sextortion",
        "description": "Zmyślony opis: ktoś żąda zdjęć, grozi publikacją. Źdźbło, gęś, łąka.",
        "urls": ["https://example.com/u/someone"],
        "usernames": ["someone123"],
        "contact": {"email": "rodzic@example.com"},
        "language": "pl",
    }
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(IMAGES)]
    got = client.post("/api/v1/reports", data={"report": json.dumps(body)}, files=files)
    assert got.status_code == 201, got.text
    reference: str = got.json()["reference"]
    return reference


class Scene:
    """Hotline, helpline and two police forces; a report referred to (and accepted by) police."""

    def __init__(self, client: TestClient, *, accept: bool = True) -> None:
        self.client = client
        self.ctx = context(client)
        add_agencies(self.ctx)
        self.ctx.accounts.add_agency("police-2", "Police 2", AgencyKind.POLICE)
        self.analyst = Desk(client, add_staff(self.ctx, "hotline", Role.ANALYST, "anna"))
        self.officer = Desk(client, add_staff(self.ctx, "police", Role.OFFICER, "piotr"))
        self.ref = submit_three(client)
        self._hosting()
        made = self.analyst.post(
            f"{STAFF}/reports/{self.ref}/referrals",
            {"to_agency": "police", "reason": "Groźby wobec dziecka"},
        )
        assert made.status_code == 201, made.text
        self.referral = made.json()["id"]
        if accept:
            self.accept()

    def accept(self) -> None:
        got = self.officer.post(
            f"{STAFF}/referrals/{self.referral}/answer", {"accept": True, "reason": "Bierzemy"}
        )
        assert got.status_code == 204, got.text

    def _hosting(self) -> None:
        """A trace and a notice on the report's content item (as the hotline would leave)."""
        now = utcnow()
        with self.ctx.db.transaction() as session:
            item = session.scalars(select(ContentItem)).one()
            item.classification = "national"
            address = {"address": "192.0.2.7", "country": "NL", "operator": "Example Hosting"}
            session.add(
                ItemTrace(
                    item_id=item.id,
                    host=item.host,
                    addresses=json.dumps([address]),
                    country="NL",
                    location="abroad",
                    traced_at=now,
                )
            )
            session.add(
                ItemAction(
                    item_id=item.id,
                    action="forward",
                    recipient="hotline-nl",
                    status="sent",
                    created_at=now,
                    done_at=now + timedelta(seconds=5),
                )
            )

    def export(self, desk: Desk | None = None, case_number: str = "RSD-123/26") -> Any:
        return (desk or self.officer).post(
            f"{STAFF}/reports/{self.ref}/evidence-package", {"case_number": case_number}
        )

    def download(self, desk: Desk | None = None) -> tuple[bytes, str]:
        made = self.export(desk)
        assert made.status_code == 201, made.text
        body = made.json()
        got = (desk or self.officer).get(body["download_url"])
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/octet-stream"
        assert hashlib.sha256(got.content).hexdigest() == body["sha256"]
        return got.content, body["passphrase"]

    def published_key(self, folder: Path) -> Path:
        """The public key as the operator publishes it (`tarcza evidence public-key`)."""
        path = folder / "published.pem"
        path.write_bytes(ep.public_key_pem(self.ctx.keys.audit_signing_key))
        return path


def pdf_letters(pdf: bytes) -> set[str]:
    """The characters the PDF's embedded font maps to Unicode (its ToUnicode CMap)."""
    found = re.search(rb"/ToUnicode (\d+) 0 R", pdf)
    assert found is not None, "no ToUnicode map: the text could not be read or searched"
    start = pdf.index(b"\n%d 0 obj" % int(found.group(1)))
    body = pdf[pdf.index(b"stream", start) + 6 : pdf.index(b"endstream", start)].strip()
    pairs = re.findall(rb"<([0-9A-Fa-f]{4})> <([0-9A-Fa-f]{4,})>", body)
    return {bytes.fromhex(u.decode()).decode("utf-16-be") for _, u in pairs}


def openssl_decrypt(encrypted: bytes, passphrase: str, folder: Path) -> Path:
    assert OPENSSL is not None
    (folder / "package.zip.enc").write_bytes(encrypted)
    # The command a court runs, with the passphrase on standard input instead of the prompt.
    command = ep.DECRYPT_COMMAND.replace("{file}", "package.zip.enc").split()
    args = [OPENSSL, *command[1:], "-pass", "stdin"]
    done = subprocess.run(args, input=passphrase + "\n", capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "package.zip"


def unzip(path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    return folder


def court_checks(folder: Path, public_key: Path) -> tuple[int, int]:
    """(sha256sum -c, openssl pkeyutl -verify) exit codes, run in the unzipped package."""
    assert OPENSSL is not None and SHA256SUM is not None
    sums = subprocess.run(
        [SHA256SUM, "-c", "--quiet", "manifest.sha256"], cwd=folder, capture_output=True
    )
    signature = subprocess.run(
        [
            OPENSSL,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(public_key),
            "-rawin",
            "-in",
            "manifest.sha256",
            "-sigfile",
            "manifest.sig",
        ],
        cwd=folder,
        capture_output=True,
    )
    return sums.returncode, signature.returncode


@needs_tools
def test_a_court_verifies_the_package_with_openssl_and_sha256sum(
    client: TestClient, tmp_path: Path
) -> None:
    s = Scene(client)
    encrypted, passphrase = s.download()
    assert encrypted.startswith(b"Salted__")  # nothing readable travels
    assert b"someone123" not in encrypted and IMAGES[0] not in encrypted

    package = unzip(openssl_decrypt(encrypted, passphrase, tmp_path), tmp_path / "package")
    assert court_checks(package, s.published_key(tmp_path)) == (0, 0)

    names = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    originals = sorted(f"evidence/{hashlib.sha256(i).hexdigest()}.png" for i in IMAGES)
    assert names == sorted(
        [
            *originals,
            "custody.json",
            "manifest.sha256",
            "manifest.sig",
            "notices.json",
            "public_key.pem",
            "report.json",
            "report.pdf",
            "trace.json",
        ]
    )
    # The originals, byte for byte.
    assert sorted((package / n).read_bytes() for n in originals) == sorted(IMAGES)
    report = json.loads((package / "report.json").read_text())
    assert (report["reference"], report["case_number"]) == (s.ref, "RSD-123/26")
    assert report["exported_by"] == {"username": "piotr", "agency": "police"}
    assert report["report"]["description"].startswith("Zmyślony opis")
    assert report["report"]["contact"] == {"email": "rodzic@example.com"}
    assert {e["file"] for e in report["evidence"]} == set(originals)
    assert report["items"][0]["classification"] == "national"
    assert [r["to_agency"] for r in report["referrals"]] == ["police"]
    trace = json.loads((package / "trace.json").read_text())
    assert trace[0]["traces"][0]["country"] == "NL"
    notices = json.loads((package / "notices.json").read_text())
    assert notices[0]["actions"][0]["recipient"] == "hotline-nl"
    pdf = (package / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"NotoSans" in pdf
    # Polish, in a font that has every letter it uses (Zgłoszenie, Łańcuch, Źródło, gęś …).
    assert set("łŁńśŹźżąęó") <= pdf_letters(pdf)
    # The chain of custody: the report's entries, as stored, with their chain hashes.
    custody = json.loads((package / "custody.json").read_text())
    with s.ctx.db.sessions() as session:
        stored = {
            row.seq: row.entry_hash
            for row in session.scalars(select(AuditEntry).where(AuditEntry.subject_id == s.ref))
        }
    held = {e["seq"]: e["entry_hash"] for e in custody["entries"]}
    actions = [e["action"] for e in custody["entries"]]
    assert {"report.created", "report.referred", "referral.answered"} <= set(actions)
    # Every entry about the report up to the export, and nothing changed (the export follows).
    assert held == {seq: h for seq, h in stored.items() if seq in held}
    assert set(stored) - set(held) == {max(stored)}  # only the export's own entry is after it
    assert custody["log_head"]["seq"] == max(held)


@needs_tools
def test_one_changed_byte_in_any_file_fails_verification(
    client: TestClient, tmp_path: Path
) -> None:
    s = Scene(client)
    encrypted, passphrase = s.download()
    plain = ep.decrypt(encrypted, passphrase)
    original = unzip(openssl_decrypt(encrypted, passphrase, tmp_path), tmp_path / "package")
    key = s.published_key(tmp_path)
    trusted = ep.load_public_key(key.read_bytes())
    assert ep.verify_package(plain, trusted_key=trusted).ok
    names = [str(p.relative_to(original)) for p in original.rglob("*") if p.is_file()]
    assert len(names) == 11  # 3 originals, 5 records, the key, the manifest, its signature
    for n, name in enumerate(sorted(names)):
        copy = tmp_path / f"changed-{n}"
        shutil.copytree(original, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        # What the court runs: at least one of the two checks fails, whichever file it is.
        assert court_checks(copy, key) != (0, 0), name
        # And tarcza's own verifier says so, naming the problem.
        rezipped = io.BytesIO()
        with zipfile.ZipFile(rezipped, "w") as archive:
            for path in sorted(copy.rglob("*")):
                if path.is_file():
                    archive.write(path, str(path.relative_to(copy)))
        verdict = ep.verify_package(rezipped.getvalue(), trusted_key=trusted)
        assert not verdict.ok and verdict.problems, name
    # A changed byte of the encrypted file, too.
    damaged = bytearray(encrypted)
    damaged[len(damaged) // 2] ^= 0x01
    assert not ep.verify_package(bytes(damaged), passphrase, trusted).ok
    assert not ep.verify_package(encrypted, "wrong-passphrase", trusted).ok
    # Signed by another key: refused against the published one.
    other = ep.public_key_pem(bytes(32))
    assert not ep.verify_package(plain, trusted_key=ep.load_public_key(other)).ok


def test_the_export_is_audited_with_the_case_number_and_the_officer(client: TestClient) -> None:
    s = Scene(client)
    made = s.export()
    assert made.status_code == 201, made.text
    body = made.json()
    with s.ctx.db.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject_id == s.ref, AuditEntry.action == "evidence.package_exported"
            )
        ).all()
        assert verify_log(session).ok
    assert len(rows) == 1
    entry = rows[0]
    details = json.loads(entry.details)
    assert (entry.actor, entry.agency) == ("piotr", "police")
    assert details["case_number"] == "RSD-123/26" and details["officer"] == "piotr"
    assert details["manifest_sha256"] == body["manifest_sha256"]
    assert details["package_sha256"] == body["sha256"]
    assert len(details["evidence"]) == 3
    # The passphrase is nowhere in the log.
    assert body["passphrase"] not in entry.details
    # The history shows it on the report page.
    seen = s.officer.get(f"{STAFF}/reports/{s.ref}").json()
    history = [h["action"] for h in seen["history"]]
    # The officer reads what the hotline found and did about the content item.
    item = seen["items"][0]
    assert (item["classification"], item["hosting_country"], item["notices_sent"]) == (
        "national",
        "NL",
        1,
    )
    page = s.officer.get(f"/staff/reports/{s.ref}").text
    assert "Illegal under national law" in s.officer.get(f"/staff/reports/{s.ref}?lang=en").text
    assert "Hosting w kraju: NL" in page
    assert "evidence.package_exported" in history
    # The download is the maker's, once.
    stranger = Desk(client, add_staff(s.ctx, "police", Role.OFFICER, "marek"))
    assert stranger.get(body["download_url"]).status_code == 404
    assert s.officer.get(body["download_url"]).status_code == 200
    assert s.officer.get(body["download_url"]).status_code == 404


def test_only_an_officer_of_an_agency_that_accepted_the_referral_exports(
    client: TestClient,
) -> None:
    s = Scene(client, accept=False)
    supervisor = Desk(client, add_staff(s.ctx, "police", Role.SUPERVISOR, "zofia"))
    other_police = Desk(client, add_staff(s.ctx, "police-2", Role.OFFICER, "pawel"))
    counsellor = Desk(client, add_staff(s.ctx, "helpline", Role.COUNSELLOR, "kasia"))
    hotline_boss = Desk(client, add_staff(s.ctx, "hotline", Role.SUPERVISOR, "halina"))

    assert s.export().status_code == 403  # still deciding on the referral
    s.accept()
    codes = {
        "owner's analyst": s.export(s.analyst).status_code,
        "owner's supervisor": s.export(hotline_boss).status_code,
        "another police force": s.export(other_police).status_code,
        "helpline": s.export(counsellor).status_code,
        "officer": s.export().status_code,
        "police supervisor": s.export(supervisor).status_code,
    }
    assert codes == {
        "owner's analyst": 403,
        "owner's supervisor": 403,
        "another police force": 404,
        "helpline": 403,
        "officer": 201,
        "police supervisor": 201,
    }
    # A bad case number is a 422 naming the field; an unknown report a 404.
    bad = s.export(case_number="RSD<script>")
    assert bad.status_code == 422 and "case_number" in bad.text
    assert s.export(case_number="   ").status_code == 422
    missing = s.officer.post(f"{STAFF}/reports/TZ-AAAA-AAAA/evidence-package", {"case_number": "1"})
    assert missing.status_code == 404
    # A withdrawn referral ends it.
    withdrawn = s.analyst.post(f"{STAFF}/referrals/{s.referral}/withdraw", {"reason": "Pomyłka"})
    assert withdrawn.status_code == 204
    assert s.export().status_code == 404
    with s.ctx.db.sessions() as session:
        exports = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "evidence.package_exported")
        ).all()
    assert sorted(exports) == ["piotr", "zofia"]


def test_outcomes_are_recorded_and_counted_but_not_for_the_coordinator(client: TestClient) -> None:
    s = Scene(client)
    coordinator = Desk(client, add_staff(s.ctx, "ministry", Role.COORDINATOR, "ola"))
    other = Scene.__new__(Scene)  # a second report, for a second set of outcomes
    other.client, other.ctx, other.analyst, other.officer = client, s.ctx, s.analyst, s.officer
    other.ref = submit_three(client)
    other.referral = s.analyst.post(
        f"{STAFF}/reports/{other.ref}/referrals", {"to_agency": "police", "reason": "Też"}
    ).json()["id"]
    other.accept()

    def record(ref: str, outcome: str, reason: str | None = None, desk: Desk = s.officer) -> Any:
        body: dict[str, Any] = {"outcome": outcome}
        if reason is not None:
            body["reason"] = reason
        return desk.post(f"{STAFF}/reports/{ref}/outcomes", body)

    assert record(s.ref, "investigation_opened").status_code == 201
    assert record(s.ref, "suspect_identified", "Ustalono sprawcę").status_code == 201
    assert record(other.ref, "no_action", "Brak znamion przestępstwa").status_code == 201
    # "No action" needs a reason; an unknown outcome is refused; both name the field.
    no_reason = record(other.ref, "no_action")
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    unknown = record(other.ref, "arrested")
    assert unknown.status_code == 422 and "outcome" in unknown.text
    # The hotline does not record the police's outcomes.
    assert record(s.ref, "investigation_opened", desk=s.analyst).status_code == 403

    seen = s.officer.get(f"{STAFF}/reports/{s.ref}").json()
    assert [(o["outcome"], o["reason"]) for o in seen["outcomes"]] == [
        ("investigation_opened", None),
        ("suspect_identified", "Ustalono sprawcę"),
    ]
    # The coordinator reads the national figures (suppressed), not these counts.
    assert coordinator.get(f"{STAFF}/stats").status_code == 403
    # The owning hotline's supervisor counts the outcomes on its reports.
    boss = Desk(client, add_staff(s.ctx, "hotline", Role.SUPERVISOR, "halina"))
    assert boss.get(f"{STAFF}/stats").json()["outcome"] == {
        "investigation_opened": 1,
        "suspect_identified": 1,
        "no_action": 1,
    }
    page = boss.get("/staff/stats")
    assert page.status_code == 200
    assert "Wyniki działań policji" in page.text and "Wszczęto postępowanie" in page.text
    with s.ctx.db.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "referral.outcome_recorded")
        ).all()
    assert sorted(r or "" for r in audited) == ["", "Brak znamion przestępstwa", "Ustalono sprawcę"]


def test_the_queue_shows_when_the_report_was_referred(client: TestClient) -> None:
    s = Scene(client)
    queue = s.officer.get(f"{STAFF}/reports").json()
    assert [i["reference"] for i in queue] == [s.ref]
    assert queue[0]["referred_at"] is not None
    assert s.analyst.get(f"{STAFF}/reports").json()[0]["referred_at"] is None
    page = s.officer.get("/staff/queue")
    assert page.status_code == 200 and 'class="since"><time datetime=' in page.text


def test_the_command_line_exports_and_verifies_a_package(
    client: TestClient,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tarcza import cli
    from tests.support.keys import HMAC_KEY, KEY_A

    s = Scene(client)
    db_url = s.ctx.db.engine.url.render_as_string(hide_password=False)
    for name in ("TARCZA_ENV", "TARCZA_AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TARCZA_DATABASE_URL", db_url)
    monkeypatch.setenv("TARCZA_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("TARCZA_DATA_KEYS", f"k1:{KEY_A}")
    monkeypatch.setenv("TARCZA_HMAC_KEY", HMAC_KEY)

    def run(*args: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    out = tmp_path / "package.zip.enc"
    code, text = run(
        "evidence", "export", s.ref, "--case-number", "RSD-9/26", "--officer", "piotr",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert out.stat().st_mode & 0o077 == 0
    passphrase = text.split("passphrase (shown once, not stored): ")[1].split()[0]
    code, pem = run("evidence", "public-key")
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    published = tmp_path / "published.pem"
    published.write_text(pem)

    code, text = run(
        "evidence", "verify", str(out), "--public-key", str(published), stdin=passphrase
    )
    assert code == 0, text
    assert f"report {s.ref}, case RSD-9/26" in text and "signed by the trusted public key" in text
    # Wrong passphrase, a changed byte, another key: exit 1, and it says why.
    code, text = run("evidence", "verify", str(out), stdin="not-the-passphrase\n")
    assert code == 1 and "passphrase is wrong" in text
    plain = tmp_path / "package.zip"
    plain.write_bytes(ep.decrypt(out.read_bytes(), passphrase))
    changed = bytearray(plain.read_bytes())
    at = changed.find(b"manifest.sha256")  # the name in a local header: the zip breaks or lies
    changed[at + len("manifest.sha256") + 40] ^= 0x01
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(changed))
    code, text = run("evidence", "verify", str(broken))
    assert code == 1 and "BROKEN" in text
    other = tmp_path / "other.pem"
    other.write_bytes(ep.public_key_pem(bytes(32)))
    code, text = run("evidence", "verify", str(plain), "--public-key", str(other))
    assert code == 1 and "not the trusted public key" in text
    # Someone who may not export it gets no package, and nothing is written.
    add_staff(s.ctx, "hotline", Role.ANALYST, "bartek")
    refused = tmp_path / "refused.enc"
    code, text = run(
        "evidence", "export", s.ref, "--case-number", "1", "--officer", "bartek",
        "--out", str(refused),
    )  # fmt: skip
    assert code == 1 and not refused.exists()
    code, text = run(
        "evidence", "export", s.ref, "--case-number", "<x>", "--officer", "piotr",
        "--out", str(refused),
    )  # fmt: skip
    assert code == 1 and "--case-number" in text and not refused.exists()
