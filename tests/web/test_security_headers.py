"""Security headers on every kind of answer: public page, staff page, API, image, 404, redirect."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.config import Settings
from tarcza.store.engine import Database
from tarcza.web.app import create_app
from tests.cases.test_casework_api import submit
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.staff import add_agencies, add_staff, context, sign_in


def assert_hardened(headers: dict[str, str] | object) -> None:
    h = {k.lower(): v for k, v in dict(headers).items()}  # type: ignore[call-overload]
    csp = h["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


def test_every_kind_of_answer_is_hardened(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx, ("hotline",))
    reference = submit(client)["reference"]
    answers = {
        "public page": client.get("/"),
        "404": client.get("/no-such-page"),
        "signed-out redirect": client.get("/staff/queue", follow_redirects=False),
        "login page": client.get("/staff/login"),
    }
    sign_in(client, add_staff(ctx, "hotline", Role.ANALYST))
    report = client.get(f"/api/v1/staff/reports/{reference}")
    answers["staff API"] = report
    answers["staff page"] = client.get(f"/staff/reports/{reference}")
    answers["evidence preview"] = client.get(report.json()["evidence"][0]["preview_url"])
    for name, answer in answers.items():
        assert answer.status_code in (200, 303, 404), name
        assert_hardened(answer.headers)
        assert "strict-transport-security" not in answer.headers, name
    for name in ("staff API", "staff page", "evidence preview", "login page"):
        assert answers[name].headers["cache-control"] == "no-store", name


@pytest.mark.parametrize(("env", "hsts"), [("production", True), ("staging", False)])
def test_hsts_only_in_production(tmp_path: Path, db: Database, env: str, hsts: bool) -> None:
    settings = Settings(
        env=env,
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        audit_signing_key=KEY_A,
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(settings, db), base_url="https://127.0.0.1") as client:
        answer = client.get("/")
    assert ("strict-transport-security" in answer.headers) is hsts
    assert_hardened(answer.headers)
