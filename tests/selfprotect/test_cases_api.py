"""Self-protection cases through HTTP, on SQLite and PostgreSQL (issue 12).

Hashes only: a case opens with a number and a PIN; its hashes reach the partners (match API and
change feed); partners' feedback comes back as the count of stopped copies; withdrawal takes the
hashes out (the feed carries the removal) unless another case still holds them; allow-listed or
common hashes wait for a supervisor.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.partners import create_partner
from tarcza.selfprotect.service import SelfProtectService
from tarcza.store.engine import Database
from tests.support.app import make_app

CASES = "/api/v1/selfprotect/cases"
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def image(quality: int = 90) -> dict[str, Any]:
    """Hashes as the browser would send them for one (invented) picture."""
    return {
        "kind": "image",
        "md5": secrets.token_hex(16),
        "sha256": secrets.token_hex(32),
        "pdq": secrets.token_hex(32),
        "quality": quality,
    }


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"selfprotect_rate_per_network": "", "selfprotect_rate_per_device": ""}
    )


@pytest.fixture
def api(app_settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(make_app(app_settings, db), base_url="http://127.0.0.1") as client:
        yield client


def _partner(db: Database, settings: Settings, banks: list[str]) -> dict[str, str]:
    with db.transaction() as session:
        for name in banks:
            if name != "SELF_PROTECTION":
                continue
            try:
                bank_service.get_bank(session, name)
            except bank_service.BankNotFound:
                bank_service.create_bank(session, name, actor="test", now=NOW)
        _, key = create_partner(
            session, KeyRing(load_keys(settings)), "platform", banks, actor="test", now=NOW
        )
    return {"Authorization": f"Bearer {key}"}


def _open(api: TestClient, *items: dict[str, Any]) -> dict[str, Any]:
    response = api.post(CASES, json={"age_band": "13_15", "items": list(items)})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _status(api: TestClient, case: dict[str, Any]) -> dict[str, Any]:
    response = api.get(f"{CASES}/{case['reference']}", headers={"X-Case-PIN": case["pin"]})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _lookup(api: TestClient, headers: dict[str, str], pdq: str) -> list[Any]:
    answer = api.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq}, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_a_case_shares_hashes_and_counts_what_partners_stopped(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    picture = image()
    case = _open(api, picture)
    assert case["reference"].startswith("OC-") and len(case["pin"]) == 6
    assert (case["items"], case["shared"], case["held"], case["stopped"]) == (1, 1, 0, 0)
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    assert _lookup(api, partner, picture["pdq"])  # the platform's match API finds it
    feed = api.get("/api/v1/banks/SELF_PROTECTION/changes", headers=partner).json()
    assert {(c["op"], c["signal_type"]) for c in feed["changes"]} == {
        ("add", "md5"),
        ("add", "sha256"),
        ("add", "pdq"),
    }
    for count in (2, 3):
        answer = api.post(
            "/api/v1/feedback",
            json={"signal_type": "pdq", "signal": picture["pdq"], "action": "blocked",
                  "count": count},
            headers=partner,
        )  # fmt: skip
        assert answer.status_code == 200 and answer.json() == {"recorded": 1}
    api.post(
        "/api/v1/feedback",
        json={"signal_type": "md5", "signal": picture["md5"], "action": "false_positive"},
        headers=partner,
    )
    assert _status(api, case)["stopped"] == 5


def test_withdrawal_takes_the_hashes_out_and_the_feed_says_so(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    picture = image()
    case = _open(api, picture)
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    first = api.get("/api/v1/banks/SELF_PROTECTION/changes", headers=partner).json()
    withdrawn = api.post(
        f"{CASES}/{case['reference']}/withdraw", headers={"X-Case-PIN": case["pin"]}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn"] is True
    after = api.get(
        "/api/v1/banks/SELF_PROTECTION/changes",
        params={"cursor": first["next_cursor"]},
        headers=partner,
    ).json()
    assert sorted((c["op"], c["signal_type"]) for c in after["changes"]) == [
        ("remove", "md5"),
        ("remove", "pdq"),
        ("remove", "sha256"),
    ]
    assert _lookup(api, partner, picture["pdq"]) == []
    more = api.post(
        f"{CASES}/{case['reference']}/items",
        json={"items": [image()]},
        headers={"X-Case-PIN": case["pin"]},
    )
    assert more.status_code == 422


def test_a_hash_another_case_still_holds_stays(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    picture = image()
    first, second = _open(api, picture), _open(api, picture)
    api.post(f"{CASES}/{first['reference']}/withdraw", headers={"X-Case-PIN": first["pin"]})
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    assert _lookup(api, partner, picture["pdq"])
    assert _status(api, second)["shared"] == 1


def test_more_items_join_an_open_case(api: TestClient) -> None:
    case = _open(api, image())
    more = api.post(
        f"{CASES}/{case['reference']}/items",
        json={"items": [image(), image()]},
        headers={"X-Case-PIN": case["pin"]},
    )
    assert more.status_code == 200 and more.json()["items"] == 3


def test_a_plain_picture_is_refused_kindly(api: TestClient) -> None:
    response = api.post(CASES, json={"age_band": "16_17", "items": [image(), image(30)]})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    # Refused by the documented schema (quality at least 50), naming the field.
    assert problem["loc"][:3] == ["body", "items", 1] and problem["loc"][-1] == "quality"
    assert problem["type"] == "greater_than_equal"


@pytest.mark.parametrize(
    "extra", [{"name": "Ola"}, {"email": "ola@example.org"}, {"phone": "500100200"}]
)
def test_no_personal_data_is_taken(api: TestClient, extra: dict[str, str]) -> None:
    response = api.post(CASES, json={"age_band": "13_15", "items": [image()], **extra})
    assert response.status_code == 422


def test_a_wrong_pin_finds_nothing(api: TestClient) -> None:
    case = _open(api, image())
    wrong = "000000" if case["pin"] != "000000" else "111111"
    answer = api.get(f"{CASES}/{case['reference']}", headers={"X-Case-PIN": wrong})
    assert answer.status_code == 404


def test_a_case_holds_at_most_the_cap(app_settings: Settings, db: Database) -> None:
    capped = app_settings.model_copy(update={"selfprotect_max_items": 3})
    with TestClient(make_app(capped, db), base_url="http://127.0.0.1") as api:
        response = api.post(CASES, json={"age_band": "13_15", "items": [image()] * 4})
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == "too_many_items"


def test_an_allow_listed_hash_waits_for_a_supervisor(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    picture = image()
    with db.transaction() as session:
        bank_service.create_bank(session, "LAWFUL", actor="test", now=NOW, kind=BankKind.ALLOW)
        bank_service.add_signals(
            session, "LAWFUL", [Entry(SignalType.PDQ, picture["pdq"])], actor="test", now=NOW
        )
    case = _open(api, picture)
    assert (case["shared"], case["held"]) == (0, 1)
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    assert _lookup(api, partner, picture["pdq"]) == []
    protect: SelfProtectService = api.app.state.services.get(SelfProtectService)  # type: ignore[attr-defined]
    held = protect.held()
    assert {(h.signal_type, h.reason) for h in held} == {
        ("md5", "allow_listed"),
        ("sha256", "allow_listed"),
        ("pdq", "allow_listed"),
    }
    pdq_row = next(h for h in held if h.signal_type == "pdq")
    protect.decide(pdq_row.id, share=True, actor="supervisor", reason="checked: her photo")
    assert (
        api.get(  # shared now (the allow-list bank still suppresses matching, by design)
            "/api/v1/banks/SELF_PROTECTION/changes", headers=partner
        ).json()["changes"][-1]["signal"]
        == picture["pdq"]
    )


def test_a_hash_many_cases_send_is_pulled_for_review(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    meme = image()
    cases = [_open(api, meme) for _ in range(2)]
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    assert _lookup(api, partner, meme["pdq"])
    third = _open(api, meme)  # the third unrelated case: a meme, not a private picture
    assert third["held"] == 1
    assert _lookup(api, partner, meme["pdq"]) == []
    assert all(_status(api, c)["held"] == 1 for c in cases)


def test_the_feed_pages_and_resumes(api: TestClient, db: Database, app_settings: Settings) -> None:
    for _ in range(4):
        _open(api, image())
    partner = _partner(db, app_settings, ["SELF_PROTECTION"])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/banks/SELF_PROTECTION/changes", params=params, headers=partner)
        assert page.status_code == 200
        body = page.json()
        seen += [c["signal"] for c in body["changes"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 12
    again = api.get(
        "/api/v1/banks/SELF_PROTECTION/changes", params={"cursor": cursor}, headers=partner
    ).json()
    assert again["changes"] == [] and again["next_cursor"] == cursor


def test_the_feed_is_scoped_and_its_cursor_checked(
    api: TestClient, db: Database, app_settings: Settings
) -> None:
    _open(api, image())
    outsider = _partner(db, app_settings, [])
    assert api.get("/api/v1/banks/SELF_PROTECTION/changes", headers=outsider).status_code == 404
    insider = _partner_named(db, app_settings)
    bad = api.get(
        "/api/v1/banks/SELF_PROTECTION/changes", params={"cursor": "nonsense"}, headers=insider
    )
    assert bad.status_code == 422


def _partner_named(db: Database, settings: Settings) -> dict[str, str]:
    with db.transaction() as session:
        _, key = create_partner(
            session, KeyRing(load_keys(settings)), "insider", ["SELF_PROTECTION"], actor="t",
            now=NOW,
        )  # fmt: skip
    return {"Authorization": f"Bearer {key}"}


def test_cases_per_network_are_limited_with_help(app_settings: Settings, db: Database) -> None:
    tight = app_settings.model_copy(update={"selfprotect_rate_per_network": "2/hour"})
    with TestClient(make_app(tight, db), base_url="http://127.0.0.1") as api:
        for _ in range(2):
            _open(api, image())
        refused = api.post(CASES, json={"age_band": "13_15", "items": [image()]})
        assert refused.status_code == 429
        assert refused.json()["help"][0]["number"] == "112"
