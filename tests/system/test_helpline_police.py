"""A child's sextortion call goes from the helpline to the police, with the product run as shipped.

The demo's counsellor (kasia) signs in with the password and TOTP secret ``tarcza demo``
printed and works through the helpline's API: records the call, opens a case, files the link
the child gave to the hotline (the demo's analyst finds it among the content items) and refers
the case to the police. The demo's officer (piotr) finds the referral in the police queue and
accepts it; the operator exports the report's evidence package with ``tarcza evidence
export``; ``tarcza evidence verify``, ``openssl`` and ``sha256sum`` find it intact, and one
flipped byte breaks it. The officer's outcome, recorded over HTTP, shows on the report and
the counsellor's case shows the referral accepted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cases.test_evidence_package import court_checks, needs_tools, openssl_decrypt, unzip
from tests.system.harness import Deployment, StaffClient, staff

pytestmark = [pytest.mark.system, pytest.mark.slow, needs_tools]

HELPLINE = "/api/v1/helpline"
STAFF = "/api/v1/staff"
PATH = "/gallery/b.png"
CALL = {
    "channel": "chat",
    "caller": "child",
    "age_band": "13_15",
    "topics": ["sextortion"],
    "risk": "high",
    "summary": "Zmyślone: nieznajomy grozi publikacją zdjęć dziecka, jeśli nie zapłaci.",
    "duration_minutes": 25,
}
CASE_NUMBER = "RSD-116/26"


class Api:
    """A signed-in person's JSON calls, with the session's CSRF token on unsafe ones."""

    def __init__(self, person: StaffClient) -> None:
        self.http = person.http
        me = self.http.get(f"{STAFF}/me")
        assert me.status_code == 200, me.text
        self.csrf = me.json()["csrf_token"]

    def get(self, path: str) -> Any:
        answer = self.http.get(path)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def post(self, path: str, body: dict[str, Any], expect: int) -> Any:
        answer = self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf})
        assert answer.status_code == expect, f"POST {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None


def counsellor_refers_a_sextortion_call(kasia: Api, link: str) -> tuple[int, str, int]:
    """Record, open a case, file the link to the hotline, refer to the police.

    Returns (case id, the police report's reference, the referral's id).
    """
    contact = kasia.post(f"{HELPLINE}/contacts", CALL, 201)["id"]
    case = kasia.post(f"{HELPLINE}/contacts/{contact}/case", {"case_id": None}, 200)["case_id"]
    filed = kasia.post(
        f"{HELPLINE}/contacts/{contact}/reports",
        {"urls": [link], "note": "Link podany przez dziecko (zmyślony)."},
        201,
    )
    assert filed["urls"] == 1  # one content item
    police = kasia.post(
        f"{HELPLINE}/cases/{case}/police",
        {"reason": "Szantaż wobec dziecka: prosimy o wszczęcie postępowania."},
        201,
    )
    assert police["reference"] != filed["reference"]
    return case, police["reference"], police["referral_id"]


def export_and_verify(deployed: Deployment, reference: str, folder: Path) -> None:
    """``tarcza evidence export``, then the checks a court runs; one flipped byte breaks it."""
    out = folder / "package.zip.enc"
    said = deployed.cli(
        "evidence", "export", reference, "--case-number", CASE_NUMBER, "--officer", "piotr",
        "--out", str(out),
    )  # fmt: skip
    passphrase = said.split("passphrase (shown once, not stored): ")[1].split()[0]
    key = folder / "published.pem"
    key.write_text(deployed.cli("evidence", "public-key"))

    trusted = ("--public-key", str(key))
    verdict = deployed.cli("evidence", "verify", str(out), *trusted, stdin=passphrase)
    assert f"report {reference}, case {CASE_NUMBER}" in verdict
    assert "signed by the trusted public key" in verdict
    package = unzip(openssl_decrypt(out.read_bytes(), passphrase, folder), folder / "package")
    assert court_checks(package, key) == (0, 0)
    assert CASE_NUMBER in (package / "report.json").read_text()

    # One flipped byte: of the encrypted file, and of a file in the package.
    damaged = folder / "damaged.zip.enc"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match=r"(?s)exited with 1:.*BROKEN"):
        deployed.cli("evidence", "verify", str(damaged), *trusted, stdin=passphrase)
    changed = folder / "changed"
    shutil.copytree(package, changed)
    record = changed / "report.json"
    text = bytearray(record.read_bytes())
    text[len(text) // 2] ^= 0x01
    record.write_bytes(bytes(text))
    assert court_checks(changed, key)[0] != 0  # sha256sum -c fails


def test_a_sextortion_call_reaches_the_police_and_its_outcome_shows(
    deployed: Deployment, tmp_path: Path
) -> None:
    link = deployed.world.url(PATH)
    with staff(deployed, "kasia") as counsellor:
        kasia = Api(counsellor)
        case, reference, referral = counsellor_refers_a_sextortion_call(kasia, link)

        # The link is a content item at the hotline.
        with staff(deployed, "anna") as anna:
            assert anna.item_id(link) > 0

        with staff(deployed, "piotr") as officer:
            piotr = Api(officer)
            queue = piotr.get(f"{STAFF}/reports")
            mine = [i for i in queue if i["reference"] == reference]
            assert mine and mine[0]["referral_pending"] and mine[0]["owner_agency"] == "helpline"
            report = piotr.get(f"{STAFF}/reports/{reference}")
            assert [(r["id"], r["state"]) for r in report["referrals"]] == [(referral, "pending")]
            assert report["source"] == "helpline" and report["category"] == "sextortion"
            piotr.post(
                f"{STAFF}/referrals/{referral}/answer",
                {"accept": True, "reason": "Przyjęte (test)."},
                204,
            )

            export_and_verify(deployed, reference, tmp_path)

            piotr.post(
                f"{STAFF}/reports/{reference}/outcomes", {"outcome": "investigation_opened"}, 201
            )
            outcomes = piotr.get(f"{STAFF}/reports/{reference}")["outcomes"]
            assert [(o["outcome"], o["agency"]) for o in outcomes] == [
                ("investigation_opened", "police")
            ]
        # The report is the helpline's own: the counsellor sees the outcome and the accepted
        # referral on the case.
        seen = kasia.get(f"{STAFF}/reports/{reference}")
        assert [o["outcome"] for o in seen["outcomes"]] == ["investigation_opened"]
        events = kasia.get(f"{HELPLINE}/cases/{case}")["events"]
        police = [e for e in events if e["kind"] == "police"]
        assert [(e["report_reference"], e["referral_state"]) for e in police] == [
            (reference, "accepted")
        ]
