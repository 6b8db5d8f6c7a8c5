"""Pages speak Polish by default and English on request; every message is translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from fastapi.testclient import TestClient

from tarcza.web import i18n

ROOT = Path(__file__).resolve().parents[2]


def source_messages() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "N_": None, "format": None}
    found = extract_from_dir(str(ROOT / "src"), method_map=method_map, keywords=keywords)
    return {msg for _file, _line, msg, _comments, _ctx in found if isinstance(msg, str) and msg}


def test_every_message_in_the_source_has_a_polish_translation() -> None:
    polish = i18n.translator("pl").messages
    missing = sorted(source_messages() - set(polish))
    assert missing == [], f"untranslated (run `make messages` and translate): {missing}"


def test_polish_placeholders_match_the_english_ones() -> None:
    import re

    for msgid, msgstr in i18n.translator("pl").messages.items():
        assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", msgstr)), msgid


def test_an_unknown_language_falls_back_to_polish() -> None:
    assert i18n.translator("xx").language == "pl"


@pytest.mark.parametrize(
    ("query", "cookie", "expected"),
    [
        (None, None, "pl"),
        ("en", None, "en"),
        (None, "en", "en"),
        ("pl", "en", "pl"),
        ("de", "xx", "pl"),
    ],
)
def test_language_choice(query: str | None, cookie: str | None, expected: str) -> None:
    assert i18n.pick_language(query, cookie) == expected


def test_home_page_is_polish_with_the_help_numbers_112_first(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="pl">' in page.text
    assert "Zgłoś wykorzystywanie seksualne dziecka w internecie" in page.text
    positions = [page.text.find(f'href="tel:{n}"') for n in ("112", "997", "116111", "800100100")]
    assert all(p > 0 for p in positions)
    assert positions == sorted(positions)
    assert 'href="/report"' in page.text


def test_english_is_one_click_away_and_sticks(client: TestClient) -> None:
    home = client.get("/")
    assert 'href="/?lang=en"' in home.text
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Report online sexual exploitation of a child" in english.text
    assert "lang=en" in english.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/report").text
