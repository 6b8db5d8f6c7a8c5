"""Key rotation: old rows stay readable under a new key, and `reseal` moves them over."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.config import Settings
from tarcza.crypto import KeyRing
from tarcza.intake.models import Report
from tarcza.schema.reseal import reseal_all
from tarcza.store.engine import Database
from tests.support.app import make_app, make_application
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.staff import add_agencies, add_staff, sign_in

KEY_B = base64.b64encode(bytes(range(32))).decode()


def _settings(tmp_path: Path, keys: str) -> Settings:
    return Settings(
        var_dir=tmp_path,
        data_keys=keys,
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )


def _report(client: TestClient) -> str:
    body = {
        "category": "grooming",
        "description": "Invented: an adult keeps writing to my son.",
        "contact": {"phone": "+48 600 000 000"},
        "language": "pl",
    }
    img = Image.new("RGB", (40, 30), (30, 120, 200))
    img.paste((240, 200, 20), (5, 5, 25, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    png = out.getvalue()
    answer = client.post(
        "/api/v1/reports",
        data={"report": json.dumps(body)},
        files=[("files", ("a.png", png, "image/png"))],
    )
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def test_rotation_keeps_old_rows_readable_and_reseal_moves_them(
    tmp_path: Path, db: Database
) -> None:
    old = _settings(tmp_path, f"old:{KEY_A}")
    with TestClient(make_app(old, db), base_url="http://127.0.0.1") as client:
        ctx = client.app.state.application  # type: ignore[attr-defined]
        add_agencies(ctx, ("hotline",))
        analyst = add_staff(ctx, "hotline", Role.ANALYST, "anna")
        reference = _report(client)

    # The new key goes first; the old one stays for reading.
    rotated = _settings(tmp_path, f"new:{KEY_B},old:{KEY_A}")
    with TestClient(make_app(rotated, db), base_url="http://127.0.0.1") as client:
        sign_in(client, analyst)
        seen = client.get(f"/api/v1/staff/reports/{reference}").json()
        assert seen["description"].startswith("Invented")
        assert seen["contact"]["phone"] == "+48 600 000 000"

    ctx = make_application(rotated, db)
    count = reseal_all(ctx.db, ctx.keyring, ctx.cases.evidence_store)
    assert count.resealed["reports.description_sealed"] == 1
    assert count.resealed["users.totp_secret_sealed"] == 1
    assert count.resealed["evidence files"] == 1
    with db.sessions() as session:
        row = session.scalars(select(Report).where(Report.reference == reference)).one()
        assert KeyRing.key_id(row.description_sealed or b"") == "new"
    # A second run finds nothing left to do.
    assert reseal_all(ctx.db, ctx.keyring, ctx.cases.evidence_store).total == 0

    # Now the old key can go: everything still opens.
    only_new = _settings(tmp_path, f"new:{KEY_B}")
    with TestClient(make_app(only_new, db), base_url="http://127.0.0.1") as client:
        sign_in(client, analyst)
        seen = client.get(f"/api/v1/staff/reports/{reference}").json()
        assert seen["usernames"] is None and seen["description"].startswith("Invented")
        preview = client.get(seen["evidence"][0]["preview_url"])
        assert preview.status_code == 200
