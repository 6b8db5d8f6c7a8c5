"""What the hotline confirms illegal stays removed: the file's hashes join the confirmed bank.

A partner platform reports a (synthetic) image with its key; the hotline's analyst confirms the
evidence file as baseline from the report's page; its MD5, SHA-256 and PDQ are then in the
HOTLINE_CONFIRMED bank, labelled with the report and the partner; the same picture reported
again matches that bank on arrival. Only the hotline's analysts confirm; on both databases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit.models import AuditEntry
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch
from tarcza.hashing.partners import create_partner
from tarcza.intake.models import Evidence, Report
from tests.support.staff import add_agencies, add_staff, context, sign_in


def _picture() -> bytes:
    """A synthetic picture with enough detail for a usable PDQ (smooth noise, fixed seed)."""
    import io
    import random

    from PIL import Image, ImageFilter

    rng = random.Random(7)
    img = Image.new("RGB", (64, 48))
    img.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 48)]
    )
    img = img.resize((256, 192)).filter(ImageFilter.GaussianBlur(2))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


REPORT = {"category": "csam", "description": "Invented: found on our service.", "language": "pl"}


def _report_with_image(client: TestClient, headers: dict[str, str] | None = None) -> str:
    answer = client.post(
        "/api/v1/reports",
        data={"report": json.dumps(REPORT)},
        files=[("files", ("a.png", _picture(), "image/png"))],
        headers=headers or {},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["reference"])


def _desk(client: TestClient, agency: str, role: Role) -> tuple[TestClient, str]:
    desk = TestClient(client.app, base_url="http://127.0.0.1")
    csrf = sign_in(desk, add_staff(context(client), agency, role))
    return desk, csrf


def test_a_confirmed_file_joins_the_bank_with_its_provenance_and_stays_removed(
    client: TestClient,
) -> None:
    ctx: Any = context(client)
    add_agencies(ctx)
    with ctx.db.transaction() as session:
        _, key = create_partner(
            session, ctx.keyring, "fotoplatforma", [], actor="test", now=datetime.now(UTC)
        )
    reference = _report_with_image(client, {"Authorization": f"Bearer {key}"})
    with ctx.db.sessions() as session:
        evidence = session.scalars(
            select(Evidence).join(Report).where(Report.reference == reference)
        ).one()
        evidence_id, md5, pdq = evidence.id, evidence.md5, evidence.pdq
    analyst, csrf = _desk(client, "hotline", Role.ANALYST)
    page = analyst.get(f"/staff/reports/{reference}").text
    assert f'action="/staff/evidence/{evidence_id}/confirm"' in page

    # Others may not: a counsellor has no such action, a police officer's report is not his.
    counsellor, c_csrf = _desk(client, "helpline", Role.COUNSELLOR)
    refused = counsellor.post(
        f"/staff/evidence/{evidence_id}/confirm",
        data={"csrf": c_csrf, "classification": "baseline"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    bad = analyst.post(
        f"/staff/evidence/{evidence_id}/confirm",
        data={"csrf": csrf, "classification": "not_illegal"},
        follow_redirects=False,
    )
    assert bad.status_code == 422

    done = analyst.post(
        f"/staff/evidence/{evidence_id}/confirm",
        data={"csrf": csrf, "classification": "baseline"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/reports/{reference}?done=confirmed"
    with ctx.db.sessions() as session:
        signals = session.execute(
            select(BankSignal.signal_type, BankSignal.value, BankSignal.label)
            .join(Bank, Bank.id == BankSignal.bank_id)
            .where(Bank.name == "HOTLINE_CONFIRMED")
        ).all()
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == reference)
        ).all()
    assert {(t, v) for t, v, _ in signals} >= {("md5", md5), ("pdq", pdq)}
    assert {t for t, _, _ in signals} == {"md5", "sha256", "pdq"}
    assert {label for _, _, label in signals} == {
        f"hotline confirmed baseline: report {reference}, partner fotoplatforma"
    }
    assert "evidence.confirmed" in audited, [label for _, _, label in signals]

    # The same picture, reported again by anyone, matches the confirmed bank on arrival.
    again = _report_with_image(client)
    with ctx.db.sessions() as session:
        banks = session.scalars(
            select(Bank.name)
            .join(EvidenceMatch, EvidenceMatch.bank_id == Bank.id)
            .join(Evidence, Evidence.id == EvidenceMatch.evidence_id)
            .join(Report, Report.id == Evidence.report_id)
            .where(Report.reference == again)
        ).all()
    assert "HOTLINE_CONFIRMED" in banks
