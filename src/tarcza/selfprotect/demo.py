"""Demo data for self-protection: one invented case, and a demo platform that reads its bank."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy import select

from tarcza.crypto import KeyRing
from tarcza.hashing.models import Partner
from tarcza.hashing.partners import create_partner
from tarcza.selfprotect.service import SelfProtectService
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

DEMO_PARTNER = "demo-platform"


def _invented_item() -> dict[str, object]:
    """Hashes of no picture at all: random values shaped as the browser sends them."""
    return {
        "kind": "image",
        "md5": secrets.token_hex(16),
        "sha256": secrets.token_hex(32),
        "pdq": secrets.token_hex(32),
        "quality": 90,
    }


def load_protect_demo(
    protect: SelfProtectService, db: Database, keyring: KeyRing, var_dir: Path
) -> tuple[str, str, str]:
    """Once: a protection case of two invented items, and a demo platform allowed to read the
    self-protection bank. Its case number, PIN and the platform's key; a second run answers
    the same (kept sealed under ``var_dir``: development only, as the demo's passwords)."""
    kept = var_dir / "demo-selfprotect.sealed"
    if kept.exists():
        data = json.loads(keyring.open_text(kept.read_bytes(), "demo:selfprotect"))
        return data["reference"], data["pin"], data["key"]
    receipt = protect.open_case("13_15", [_invented_item(), _invented_item()])
    with db.transaction() as session:
        if session.scalar(select(Partner.id).where(Partner.name == DEMO_PARTNER)) is not None:
            raise RuntimeError(f"{DEMO_PARTNER} exists but its key was not kept in {kept}")
        _, key = create_partner(
            session, keyring, DEMO_PARTNER, [protect.policy.bank], actor="demo", now=utcnow()
        )
    data = {"reference": receipt.reference, "pin": receipt.pin, "key": key}
    kept.write_bytes(keyring.seal_text(json.dumps(data), "demo:selfprotect"))
    kept.chmod(0o600)
    return receipt.reference, receipt.pin, key
