"""Helpers for the /ispws tests: partners, hand-written XML fixtures, synthetic images."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from lxml import etree
from PIL import Image, ImageDraw

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing.partners import create_partner
from tarcza.store.engine import Database

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Credentials:
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.name}:{self.key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def add_partner(db: Database, settings: Settings, name: str) -> Credentials:
    with db.transaction() as session:
        _, key = create_partner(
            session, KeyRing(load_keys(settings)), name, [], actor="admin:test", now=NOW
        )
    return Credentials(name, key)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def file_details(report_id: int, file_id: str, md5: str) -> bytes:
    text = (FIXTURES / "file_details.xml").read_text()
    return text.format(report_id=report_id, file_id=file_id, md5=md5).encode()


def synthetic_png(seed: int) -> bytes:
    """A made-up picture (coloured rectangles), different for each seed."""
    img = Image.new("RGB", (200, 150), ((30 + seed * 40) % 256, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(4):
        draw.rectangle((i * 30 + seed, i * 20, i * 30 + 70, i * 20 + 40), fill=(230, 60 * i, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def answer(body: bytes) -> dict[str, str]:
    """An XML answer's root tag and child texts (a client's reading, by a plain parser)."""
    root = etree.fromstring(body)
    values = {child.tag: (child.text or "") for child in root}
    values["_root"] = root.tag
    values["_fileIds"] = ",".join(f.text or "" for f in root.iterfind("files/fileId"))
    return values


def submit(client: TestClient, who: Credentials, xml: bytes) -> int:
    response = client.post(
        "/ispws/submit",
        content=xml,
        headers={**who.headers, "Content-Type": "text/xml; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    values = answer(response.content)
    assert values["responseCode"] == "0"
    return int(values["reportId"])


def upload(
    client: TestClient, who: Credentials, report_id: int, data: bytes, name: str = "a.png"
) -> tuple[int, dict[str, str]]:
    response = client.post(
        "/ispws/upload",
        data={"id": str(report_id)},
        files={"file": (name, data, "application/octet-stream")},
        headers=who.headers,
    )
    return response.status_code, answer(response.content)


def sealed_files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.resolved_evidence_dir).rglob("*.sealed"))
