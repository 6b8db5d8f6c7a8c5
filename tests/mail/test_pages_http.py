"""The caught mail over HTTP: the hotline's staff read it as plain text; nobody else finds it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.config import Settings
from tarcza.mail.catcher import MailCatcher
from tarcza.store.engine import Database
from tarcza.web.deps import served_paths
from tests.mail.test_catcher import plain
from tests.support.staff import add_agencies, add_staff, context, sign_in

LIST = "/staff/mail"
HOSTILE_BODY = (
    "Treść zawiadomienia (demo).\n"
    "Adres: https://galeria.demo.example/demo/gallery/1\n"
    "<script>alert('x')</script> <a href=\"https://example.com/\">kliknij</a>\n"
)


@pytest.fixture
def app(client: TestClient) -> FastAPI:
    """The app as the root builds it in development: the mail catcher is on by default."""
    app: FastAPI = client.app  # type: ignore[assignment]
    assert LIST in served_paths(app)
    return app


@pytest.fixture
def catcher(client: TestClient) -> MailCatcher:
    found = context(client).mail_catcher
    assert found is not None
    return found


PEOPLE = {
    "analyst": ("hotline", Role.ANALYST),
    "hotline_supervisor": ("hotline", Role.SUPERVISOR),
    "hotline_auditor": ("hotline", Role.AUDITOR),
    "police_officer": ("police", Role.OFFICER),
    "police_supervisor": ("police", Role.SUPERVISOR),
    "counsellor": ("helpline", Role.COUNSELLOR),
}


class Staff:
    """Signed-in clients by name, each made on first use (an account costs an argon2 hash)."""

    def __init__(self, client: TestClient, app: FastAPI) -> None:
        self.ctx, self.app = context(client), app
        self.clients: Staff = {}
        add_agencies(self.ctx)

    def __getitem__(self, name: str) -> TestClient:
        if name not in self.clients:
            self.clients[name] = TestClient(self.app, base_url="http://127.0.0.1")
            if name != "anonymous":
                agency, role = PEOPLE[name]
                sign_in(self.clients[name], add_staff(self.ctx, agency, role))
        return self.clients[name]


@pytest.fixture
def staff(client: TestClient, app: FastAPI) -> Iterator[Staff]:
    people = Staff(client, app)
    yield people
    for one in people.clients.values():
        one.close()


def message_links(html: str) -> list[str]:
    return re.findall(r'href="(/staff/mail/[^"]+)"', html)


def test_the_analyst_lists_the_caught_mail_newest_first_in_polish(
    staff: Staff, catcher: MailCatcher
) -> None:
    catcher.send(plain("Pierwsze zawiadomienie"))
    catcher.send(plain("Drugie zawiadomienie", to="abuse@pliki.demo.example"))

    page = staff["analyst"].get(LIST)

    assert page.status_code == 200
    assert '<html lang="pl">' in page.text
    assert "Przechwytywacz poczty do prac rozwojowych: nic z tego nie zostało wysłane." in page.text
    assert page.text.index("Drugie zawiadomienie") < page.text.index("Pierwsze zawiadomienie")
    assert "abuse@pliki.demo.example" in page.text
    assert "Wiadomości: 2, od najnowszej." in page.text
    assert len(message_links(page.text)) == 2
    assert page.headers["cache-control"] == "no-store"


def test_the_list_speaks_english_on_request(staff: Staff, catcher: MailCatcher) -> None:
    page = staff["analyst"].get(LIST, params={"lang": "en"})

    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "Development mail catcher: nothing here was sent." in page.text
    assert "No mail has been caught yet." in page.text


def test_one_message_is_shown_as_escaped_text_with_no_live_link(
    staff: Staff, catcher: MailCatcher
) -> None:
    catcher.send(plain("Zawiadomienie <b>pilne</b>", body=HOSTILE_BODY))
    [link] = message_links(staff["analyst"].get(LIST).text)

    page = staff["analyst"].get(link, params={"lang": "en"})

    assert page.status_code == 200
    assert "Development mail catcher: nothing here was sent." in page.text
    assert "Zawiadomienie &lt;b&gt;pilne&lt;/b&gt;" in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text and "<b>pilne" not in page.text
    assert "https://galeria.demo.example/demo/gallery/1" in page.text
    assert 'href="https://galeria' not in page.text and 'href="https://example.com' not in page.text
    [caught] = catcher.messages()
    assert html.escape(caught.message_id) in page.text


def test_the_hotline_supervisor_reads_the_mail_too(staff: Staff, catcher: MailCatcher) -> None:
    catcher.send(plain("Zawiadomienie"))
    key = catcher.messages()[0].key

    assert staff["hotline_supervisor"].get(LIST).status_code == 200
    assert staff["hotline_supervisor"].get(f"{LIST}/{quote(key, safe='')}").status_code == 200


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("police_officer", 403),  # the role holds no hotline permission
        ("counsellor", 403),
        ("hotline_auditor", 403),
        ("police_supervisor", 404),  # holds it, but the mail is another agency's
    ],
)
def test_nobody_else_reads_the_mail(
    staff: Staff, catcher: MailCatcher, who: str, status: int
) -> None:
    catcher.send(plain("Zawiadomienie", body=HOSTILE_BODY))
    key = catcher.messages()[0].key

    for path in (LIST, f"{LIST}/{quote(key, safe='')}"):
        page = staff[who].get(path)
        assert page.status_code == status, path
        assert "galeria.demo.example" not in page.text


def test_without_signing_in_the_page_asks_to_sign_in(staff: Staff) -> None:
    page = staff["anonymous"].get(LIST, follow_redirects=False)

    assert page.status_code == 303 and page.headers["location"] == "/staff/login"


@pytest.mark.parametrize("key", ["nothing-here", "new", "tmp", "%2e%2e%2fkeys.json", "x" * 300])
def test_an_unknown_message_is_not_found(staff: Staff, catcher: MailCatcher, key: str) -> None:
    catcher.send(plain("Zawiadomienie"))

    assert staff["analyst"].get(f"{LIST}/{key}").status_code == 404


def test_production_has_no_mail_page(tmp_path: Path) -> None:
    """The catcher is development only: a production app neither serves nor lists the page."""
    from tarcza.config import ConfigError, Settings
    from tests.support.keys import HMAC_KEY, KEY_A

    production = Settings(
        env="production",
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        audit_signing_key=HMAC_KEY,
        mail="catch",
        _env_file=None,  # type: ignore[call-arg]
    )
    from tarcza.app import build

    with pytest.raises(ConfigError, match="TARCZA_MAIL"):
        build(production)


def test_the_staff_menu_lists_the_caught_mail_where_the_catcher_runs(staff: Staff) -> None:
    page = staff["analyst"].get("/staff/items")
    assert page.status_code == 200
    menu = re.findall(r"<nav[^>]*>.*?</nav>", page.text, flags=re.S)
    links = set(re.findall(r'href="(/staff/[^"]*)"', "".join(menu)))
    assert {"/staff/items", "/staff/mail", "/staff/account"} <= links, links


def test_without_the_catcher_the_menu_does_not_offer_it(settings: Settings, db: Database) -> None:
    from tarcza.accounts.layout import staff_menu
    from tarcza.accounts.permissions import AgencyKind, Principal
    from tests.support.app import make_app

    smtp = settings.model_copy(update={"mail": "smtp"})
    app = make_app(smtp, db)
    assert "/staff/mail" not in served_paths(app)
    analyst = Principal(
        user_id=1, username="a", agency="hotline", agency_kind=AgencyKind.HOTLINE,
        role=Role.ANALYST, mfa_passed=True,
    )  # fmt: skip
    assert "/staff/mail" not in dict(staff_menu(analyst, served_paths(app)))
    assert "/staff/items" in dict(staff_menu(analyst, served_paths(app)))
