"""A person protects a picture on a phone, by keyboard, and the picture never leaves the browser
(issue 12). Against ``tarcza serve`` (the live server), in Polish and in English.

Chromium's request log is read: no request carries the picture's bytes, and each request that
sends fingerprints stays under a few KB. The fingerprint reaches a partner through the change
feed, equal to what tarcza's own hasher computes for the file; withdrawing takes it out.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tarcza.config import load_keys, load_settings
from tarcza.crypto import KeyRing
from tarcza.hashing.partners import create_partner
from tarcza.hashing.service import hash_image_bytes
from tarcza.store.engine import make_database
from tests.support.server import Server

pytestmark = pytest.mark.browser

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pdq"
# A picture per language, so that each case is the only one holding its fingerprints.
PICTURES = {"pl": TESTDATA / "misc-images" / "c.png", "en": TESTDATA / "misc-images" / "wee.jpg"}


def _partner_key(server: Server) -> str:
    settings = load_settings()  # the test process's environment is not the server's:
    settings = settings.model_copy(
        update={
            "database_url": server.env["TARCZA_DATABASE_URL"],
            "var_dir": Path(server.env["TARCZA_VAR_DIR"]),
            "data_keys": server.env["TARCZA_DATA_KEYS"],
            "hmac_key": server.env["TARCZA_HMAC_KEY"],
        }
    )
    db = make_database(server.env["TARCZA_DATABASE_URL"])
    try:
        with db.transaction() as session:
            _, key = create_partner(
                session,
                KeyRing(load_keys(settings)),
                # Unique per call: both languages share one server, often within a second.
                f"platform-{secrets.token_hex(6)}",
                ["SELF_PROTECTION"],
                actor="test",
                now=datetime.now(UTC),
            )
    finally:
        db.dispose()
    return key


def _protect(browser: Any, server: Server, lang: str) -> tuple[str, str, list[Any]]:
    picture = PICTURES[lang]
    if not picture.exists():
        pytest.fail(f"benign reference image missing: {picture}")
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(f"{server.url}/protect" + ("?lang=en" if lang == "en" else ""))
    page.locator("#files").set_input_files(str(picture))
    page.wait_for_selector("#hashed li.hashed-ok", timeout=30_000)
    label = "13 to 15" if lang == "en" else "13–15 lat"
    # Keyboard only from here: focus the age band, choose it, tab to the button, Enter.
    page.get_by_label(label, exact=True).focus()
    page.keyboard.press("Space")
    page.locator("#send").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#reference")
    reference = page.locator("#reference").inner_text().strip()
    pin = page.locator("#pin").inner_text().strip()
    context.close()
    return reference, pin, sent


@pytest.mark.parametrize("lang", ["pl", "en"])
def test_a_picture_is_protected_without_leaving_the_browser(
    browser: Any, live_server: Server, lang: str
) -> None:
    picture = PICTURES[lang].read_bytes()
    reference, pin, sent = _protect(browser, live_server, lang)
    assert reference.startswith("OC-") and len(pin) == 6
    bodies = [r.post_data_buffer or b"" for r in sent]
    assert any(b"sha256" in body for body in bodies)  # the fingerprints did go
    for body in bodies:
        assert len(body) < 4096, len(body)  # a fingerprint, not a picture
        for start in range(0, len(picture) - 64, max(1, len(picture) // 16)):
            assert picture[start : start + 64] not in body
    print(f"\n{lang}: {len(sent)} requests, largest body {max(map(len, bodies))} bytes")

    expected = hash_image_bytes(picture)
    key = _partner_key(live_server)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        feed = client.get("/api/v1/banks/SELF_PROTECTION/changes", headers=headers).json()
        signals = {(c["signal_type"], c["signal"]) for c in feed["changes"] if c["op"] == "add"}
        assert ("pdq", expected.pdq) in signals  # the browser's PDQ equals tarcza's
        assert ("sha256", expected.sha256) in signals and ("md5", expected.md5) in signals
        withdrawn = client.post(
            f"/api/v1/selfprotect/cases/{reference}/withdraw", headers={"X-Case-PIN": pin}
        )
        assert withdrawn.status_code == 200
        after = client.get(
            "/api/v1/banks/SELF_PROTECTION/changes",
            params={"cursor": feed["next_cursor"]},
            headers=headers,
        ).json()
        removed = {(c["signal_type"], c["signal"]) for c in after["changes"] if c["op"] == "remove"}
    assert removed == {s for s in signals if s[1] in (expected.pdq, expected.md5, expected.sha256)}
    assert len(removed) == 3


def test_a_plain_picture_is_refused_kindly_and_nothing_is_sent(
    browser: Any, live_server: Server
) -> None:
    plain = TESTDATA / "misc-images" / "small.jpg"  # reference quality 0
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{live_server.url}/protect")
    page.locator("#files").set_input_files(str(plain))
    page.wait_for_selector("#hashed li.hashed-refused", timeout=30_000)
    assert "Zbyt jednolite" in page.locator("#hashed").inner_text()
    assert page.locator("#send").is_disabled()
    context.close()
