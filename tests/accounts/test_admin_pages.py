"""An administrator manages their own agency's accounts through the pages, and nothing else."""

from __future__ import annotations

import re

import httpx
import pytest

from tarcza.accounts.auth import LoginFailed
from tarcza.accounts.permissions import Role
from tests.accounts.helpers import Web, csrf_in
from tests.support.staff import StaffUser, add_staff, sign_in


class Admin:
    """A hotline administrator's browser."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.browser = web.browser()
        self.user = add_staff(web.ctx, "hotline", Role.ADMINISTRATOR, "adam")
        self.csrf = sign_in(self.browser, self.user)

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.browser.post(path, data={"csrf": self.csrf, **data}, follow_redirects=False)

    def add(self, username: str, role: str, display_name: str = "") -> httpx.Response:
        return self.post("/staff/users", username=username, role=role, display_name=display_name)


@pytest.fixture
def admin(web: Web) -> Admin:
    return Admin(web)


def shown_password(html: str) -> str:
    found = re.search(r'id="new-password">([^<]+)<', html)
    assert found is not None
    return found[1]


def test_the_list_shows_only_the_agency_s_accounts_and_its_roles(web: Web, admin: Admin) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    add_staff(web.ctx, "police", Role.OFFICER, "piotr")
    page = admin.browser.get("/staff/users")
    assert page.status_code == 200 and '<html lang="pl">' in page.text
    assert 'id="user-anna"' in page.text and 'id="user-adam"' in page.text
    assert "piotr" not in page.text
    options = re.findall(r'<option value="(\w+)"', page.text)
    assert options == ["analyst", "supervisor", "administrator", "auditor"]
    for field in ("username", "role", "display_name"):
        assert f'<label for="{field}">' in page.text
    # No buttons to change one's own account.
    own = re.search(r'<tr id="user-adam">.*?</tr>', page.text, re.S)
    assert own is not None and "<form" not in own[0]


def test_a_new_account_s_first_password_is_shown_once_and_works(web: Web, admin: Admin) -> None:
    answer = admin.add("Nowy.Analityk", "analyst", "Jan Nowak")
    assert answer.status_code == 200
    text = answer.text
    assert "Konto dodane" in text and "nowy.analityk" in text
    password = shown_password(text)
    listing = admin.browser.get("/staff/users").text
    assert password not in listing
    assert "Jan Nowak" in listing and "jeszcze nie" in listing  # no second factor yet
    step = web.ctx.auth.password("nowy.analityk", password, "test")
    assert step.needs_enrolment
    users = web.ctx.accounts.agency_users("hotline")
    assert [(u.username, u.agency, u.role) for u in users if u.username.startswith("nowy")] == [
        ("nowy.analityk", "hotline", Role.ANALYST)
    ]


def test_a_role_foreign_to_the_agency_is_refused_in_the_reader_s_language(
    admin: Admin,
) -> None:
    answer = admin.add("oficer", "officer")
    assert answer.status_code == 422
    assert "W Twojej instytucji nie może być osób w tej roli." in answer.text
    unknown = admin.add("ktos", "king")
    assert unknown.status_code == 422
    admin.browser.get("/staff/users?lang=en")
    english = admin.add("oficer", "officer")
    assert "Your agency cannot have people in this role." in english.text
    assert 'value="oficer"' in english.text


@pytest.mark.parametrize(
    ("username", "message"),
    [("a", "Użyj od 2 do 40 znaków"), ("adam", "Ta nazwa użytkownika jest zajęta.")],
)
def test_a_bad_or_taken_username_is_refused(admin: Admin, username: str, message: str) -> None:
    answer = admin.add(username, "analyst")
    assert answer.status_code == 422
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_others_may_not_open_the_accounts_pages(web: Web) -> None:
    for agency, role in (("hotline", Role.ANALYST), ("hotline", Role.SUPERVISOR)):
        browser = web.browser()
        csrf = sign_in(browser, add_staff(web.ctx, agency, role))
        assert browser.get("/staff/users").status_code == 403
        data = {"csrf": csrf, "username": "sneaky", "role": "analyst"}
        assert browser.post("/staff/users", data=data).status_code == 403
    assert web.browser().get("/staff/users", follow_redirects=False).status_code == 303


def test_changes_need_the_csrf_token(admin: Admin) -> None:
    data = {"username": "nowy", "role": "analyst"}
    assert admin.browser.post("/staff/users", data=data).status_code == 403
    assert admin.browser.post("/staff/users/adam/suspend").status_code == 403


def test_suspend_and_activate_an_account_of_the_agency(web: Web, admin: Admin) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    anna_browser = web.browser()
    sign_in(anna_browser, anna)
    answer = admin.post("/staff/users/anna/suspend")
    assert answer.headers["location"] == "/staff/users?done=suspended"
    page = admin.browser.get("/staff/users?done=suspended").text
    assert "Konto jest zawieszone" in page and 'action="/staff/users/anna/activate"' in page
    assert anna_browser.get("/staff/account", follow_redirects=False).status_code == 303
    with pytest.raises(LoginFailed):
        web.ctx.auth.password("anna", anna.password, "test")
    answer = admin.post("/staff/users/anna/activate")
    assert answer.headers["location"] == "/staff/users?done=activated"
    assert web.ctx.auth.password("anna", anna.password, "test").token


def test_a_new_password_is_shown_once_and_the_old_one_stops_working(web: Web, admin: Admin) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    answer = admin.post("/staff/users/anna/reset-password")
    assert answer.status_code == 200
    password = shown_password(answer.text)
    assert password != anna.password
    with pytest.raises(LoginFailed):
        web.ctx.auth.password("anna", anna.password, "test")
    assert not web.ctx.auth.password("anna", password, "test").needs_enrolment


def test_clearing_the_second_factor_makes_the_person_enrol_again(web: Web, admin: Admin) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    answer = admin.post("/staff/users/anna/reset-second-factor")
    assert answer.headers["location"] == "/staff/users?done=second_factor"
    assert web.ctx.auth.password("anna", anna.password, "test").needs_enrolment


def test_accounts_of_other_agencies_do_not_exist_for_the_administrator(
    web: Web, admin: Admin
) -> None:
    piotr: StaffUser = add_staff(web.ctx, "police", Role.OFFICER, "piotr")
    for change in ("suspend", "activate", "reset-password", "reset-second-factor"):
        assert admin.post(f"/staff/users/piotr/{change}").status_code == 404
        assert admin.post(f"/staff/users/nobody/{change}").status_code == 404
    assert admin.post("/staff/users/nul%00l/suspend").status_code == 404
    # An agency field slipped into the form changes nothing: accounts go to the own agency.
    answer = admin.post("/staff/users", username="podrzutek", role="analyst", agency="police")
    assert answer.status_code == 200
    assert "podrzutek" in [u.username for u in web.ctx.accounts.agency_users("hotline")]
    assert web.ctx.auth.password("piotr", piotr.password, "test").token


def test_an_administrator_cannot_change_their_own_account(admin: Admin) -> None:
    answer = admin.post("/staff/users/adam/suspend")
    assert answer.status_code == 422
    assert "Nie możesz zmieniać własnego konta" in answer.text


def test_the_csrf_token_on_the_page_is_the_session_s(admin: Admin) -> None:
    assert csrf_in(admin.browser.get("/staff/users").text) == admin.csrf
