"""Signing in on each database, with a clock that moves only when told.

Two steps, each a new token; one answer for every kind of failure; a lock-out
that counts unknown names too; codes that work once; sessions that end.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tarcza.accounts.auth import LoginFailed, SessionInvalid
from tarcza.accounts.permissions import Action, Relation, Role, permits
from tarcza.accounts.rules import TOTP_STEP, totp_code
from tarcza.audit.models import AuditEntry
from tarcza.store.engine import Database
from tarcza.store.throttle import Throttled
from tests.accounts.conftest import Desk

PASSWORD = "correct-horse-battery-staple"
CLIENT = "198.51.100.7"


@dataclass(frozen=True)
class Enrolled:
    username: str
    secret: str
    recovery_codes: tuple[str, ...]


def enrolled(desk: Desk, name: str = "anna", role: Role = Role.ANALYST) -> Enrolled:
    """An account whose second factor is set up through the service itself."""
    desk.accounts.add_user(None, agency="hotline", username=name, role=role, password=PASSWORD)
    step = desk.auth.password(name, PASSWORD, CLIENT)
    enrolment = desk.auth.start_enrolment(step.token)
    signed = desk.auth.finish_enrolment(step.token, totp_code(enrolment.secret, desk.clock()), "x")
    desk.clock.advance(seconds=TOTP_STEP)  # the code just used is spent
    return Enrolled(name, enrolment.secret, signed.recovery_codes)


def sign_in(desk: Desk, user: Enrolled) -> str:
    step = desk.auth.password(user.username, PASSWORD, CLIENT)
    token = desk.auth.second_factor(step.token, totp_code(user.secret, desk.clock()), CLIENT).token
    desk.clock.advance(seconds=TOTP_STEP)
    return token


def test_password_then_code_gives_a_full_session_with_a_new_token_each_step(desk: Desk) -> None:
    user = enrolled(desk)
    step = desk.auth.password("  ANNA ", PASSWORD, CLIENT)
    assert not step.needs_enrolment
    halfway = desk.auth.principal(step.token)
    assert halfway is not None and not halfway.mfa_passed
    # Without the second factor the person holds nothing, not even their own queue.
    assert not permits(halfway, Action.REPORT_QUEUE_LIST, Relation.OWN)
    full = desk.auth.second_factor(step.token, totp_code(user.secret, desk.clock()), CLIENT)
    assert full.token != step.token and full.recovery_codes == ()
    principal = desk.auth.principal(full.token)
    assert principal is not None and principal.mfa_passed
    assert (principal.username, principal.agency, principal.role) == (
        "anna",
        "hotline",
        Role.ANALYST,
    )
    assert permits(principal, Action.REPORT_QUEUE_LIST, Relation.OWN)
    # The half-way token is spent: it can neither be used nor finish a second time.
    assert desk.auth.principal(step.token) is None
    with pytest.raises(SessionInvalid):
        desk.auth.second_factor(step.token, totp_code(user.secret, desk.clock()), CLIENT)


def test_the_first_sign_in_enrols_a_second_factor_and_gives_ten_recovery_codes(
    desk: Desk,
) -> None:
    desk.accounts.add_user(
        None, agency="hotline", username="anna", role=Role.ANALYST, password=PASSWORD
    )
    step = desk.auth.password("anna", PASSWORD, CLIENT)
    assert step.needs_enrolment and desk.auth.pending_step(step.token) == "enrol"
    with pytest.raises(SessionInvalid):
        desk.auth.second_factor(step.token, "123456", CLIENT)
    first = desk.auth.start_enrolment(step.token)
    assert desk.auth.start_enrolment(step.token) == first  # a reload shows the same secret
    assert first.uri.startswith("otpauth://totp/") and first.secret in first.uri
    wrong = f"{(int(totp_code(first.secret, desk.clock())) + 1) % 1_000_000:06d}"
    with pytest.raises(LoginFailed):
        desk.auth.finish_enrolment(step.token, wrong, CLIENT)
    signed = desk.auth.finish_enrolment(step.token, totp_code(first.secret, desk.clock()), CLIENT)
    assert len(signed.recovery_codes) == 10 == len(set(signed.recovery_codes))
    principal = desk.auth.principal(signed.token)
    assert principal is not None and principal.mfa_passed
    assert desk.auth.principal(step.token) is None
    # Enrolled now: the next sign-in asks for a code, and the enrolling code is spent.
    again = desk.auth.password("anna", PASSWORD, CLIENT)
    assert not again.needs_enrolment and desk.auth.pending_step(again.token) == "code"
    with pytest.raises(LoginFailed):
        desk.auth.second_factor(again.token, totp_code(first.secret, desk.clock()), CLIENT)


def test_wrong_password_and_unknown_name_fail_the_same_way(desk: Desk) -> None:
    enrolled(desk)
    failures = []
    for name, password in (
        ("anna", "wrong-password-here"),
        ("nobody", PASSWORD),
        ("nul\x00l", PASSWORD),
        ("", ""),
    ):
        with pytest.raises(LoginFailed) as caught:
            desk.auth.password(name, password, CLIENT)
        failures.append((type(caught.value), str(caught.value)))
    assert len(set(failures)) == 1


def test_an_unknown_name_costs_a_full_argon2_verification_that_never_matches() -> None:
    # The stand-in hash of unknown names is made without hashing (no 0.3 s at every start),
    # yet has the hasher's own parameters, so verifying against it costs what a real one does.
    from argon2.exceptions import VerifyMismatchError

    from tarcza.accounts.auth import _HASHER, _unmatchable_hash, hash_password

    stand_in = _unmatchable_hash()
    real = hash_password(PASSWORD)
    assert stand_in.split("$")[:4] == real.split("$")[:4]  # argon2id, version, m/t/p
    assert not _HASHER.check_needs_rehash(stand_in)
    assert stand_in != _unmatchable_hash()  # a new salt and digest each time
    for password in (PASSWORD, "", "x" * 100):
        with pytest.raises(VerifyMismatchError):  # a mismatch, not a malformed hash
            _HASHER.verify(stand_in, password)


def test_five_failures_lock_the_name_even_one_no_account_has(desk: Desk) -> None:
    enrolled(desk)
    for name in ("anna", "ghost"):
        for _ in range(5):
            with pytest.raises(LoginFailed):
                desk.auth.password(name, "wrong-password-here", f"client-{name}")
        # Locked now: the right password does not help, and the answer says when to retry.
        with pytest.raises(Throttled) as caught:
            desk.auth.password(name, PASSWORD, f"client-{name}")
        assert 60 < caught.value.retry_after <= 15 * 60 + 1
    desk.clock.advance(minutes=16)
    assert desk.auth.password("anna", PASSWORD, "client-anna").token


def test_wrong_codes_count_towards_the_same_lock(desk: Desk) -> None:
    user = enrolled(desk)
    for _ in range(5):
        step = desk.auth.password("anna", PASSWORD, CLIENT)
        with pytest.raises(LoginFailed):
            desk.auth.second_factor(step.token, "000000", CLIENT)
    with pytest.raises(Throttled):
        desk.auth.password("anna", PASSWORD, CLIENT)
    assert user.secret


def test_many_names_from_one_client_lock_the_client(desk: Desk) -> None:
    for i in range(20):
        with pytest.raises(LoginFailed):
            desk.auth.password(f"name{i}", "wrong-password-here", CLIENT)
    with pytest.raises(Throttled):
        desk.auth.password("someone-else", "wrong-password-here", CLIENT)


def test_a_recovery_code_works_once_in_any_case_or_spacing(desk: Desk) -> None:
    user = enrolled(desk)
    code = user.recovery_codes[3]
    step = desk.auth.password("anna", PASSWORD, CLIENT)
    typed = " " + code.upper().replace("-", " ") + " "
    assert desk.auth.principal(desk.auth.second_factor(step.token, typed, CLIENT).token)
    step = desk.auth.password("anna", PASSWORD, CLIENT)
    with pytest.raises(LoginFailed):
        desk.auth.second_factor(step.token, code, CLIENT)
    # The others still work.
    assert desk.auth.second_factor(step.token, user.recovery_codes[4], CLIENT).token


def test_a_totp_code_works_once(desk: Desk) -> None:
    user = enrolled(desk)
    code = totp_code(user.secret, desk.clock())
    first = desk.auth.password("anna", PASSWORD, CLIENT)
    desk.auth.second_factor(first.token, code, CLIENT)
    second = desk.auth.password("anna", PASSWORD, CLIENT)
    with pytest.raises(LoginFailed):
        desk.auth.second_factor(second.token, code, CLIENT)
    desk.clock.advance(seconds=TOTP_STEP)
    assert desk.auth.second_factor(second.token, totp_code(user.secret, desk.clock()), CLIENT)


def test_the_second_factor_must_follow_within_five_minutes(desk: Desk) -> None:
    user = enrolled(desk)
    step = desk.auth.password("anna", PASSWORD, CLIENT)
    desk.clock.advance(minutes=5, seconds=1)
    assert desk.auth.principal(step.token) is None
    with pytest.raises(SessionInvalid):
        desk.auth.pending_step(step.token)
    with pytest.raises(SessionInvalid):
        desk.auth.second_factor(step.token, totp_code(user.secret, desk.clock()), CLIENT)


def test_a_session_ends_after_thirty_idle_minutes(desk: Desk) -> None:
    token = sign_in(desk, enrolled(desk))
    for _ in range(3):  # using it keeps it alive
        desk.clock.advance(minutes=29)
        assert desk.auth.principal(token) is not None
    desk.clock.advance(minutes=31)
    assert desk.auth.principal(token) is None


def test_a_session_ends_after_twelve_hours_however_busy(desk: Desk) -> None:
    token = sign_in(desk, enrolled(desk))
    for _ in range(35):
        desk.clock.advance(minutes=20)
        assert desk.auth.principal(token) is not None
    desk.clock.advance(minutes=21)  # 12 h 1 min since sign-in (35 * 20 + 21 + 0.5 + ...)
    assert desk.auth.principal(token) is None


def test_logout_ends_this_session_and_logout_everywhere_ends_all(desk: Desk) -> None:
    user = enrolled(desk)
    laptop, phone, desktop = sign_in(desk, user), sign_in(desk, user), sign_in(desk, user)
    desk.auth.logout(laptop)
    assert desk.auth.principal(laptop) is None and desk.auth.principal(phone) is not None
    other = enrolled(desk, "marek", Role.SUPERVISOR)
    elsewhere = sign_in(desk, other)
    # phone, desktop and the session the enrolment opened
    assert desk.auth.logout_everywhere(phone) == 3
    assert desk.auth.principal(phone) is None and desk.auth.principal(desktop) is None
    assert desk.auth.principal(elsewhere) is not None


def test_a_suspended_account_cannot_sign_in_and_its_sessions_end(desk: Desk) -> None:
    user = enrolled(desk)
    token = sign_in(desk, user)
    admin = enrolled(desk, "adam", Role.ADMINISTRATOR)
    admin_principal = desk.auth.principal(sign_in(desk, admin))
    assert admin_principal is not None
    desk.accounts.set_active(admin_principal, "anna", False)
    assert desk.auth.principal(token) is None
    with pytest.raises(LoginFailed):
        desk.auth.password("anna", PASSWORD, CLIENT)


def test_csrf_tokens_belong_to_one_session_and_odd_input_is_just_wrong(desk: Desk) -> None:
    token = desk.auth.csrf_token("session-a")
    assert desk.auth.csrf_valid("session-a", token)
    assert not desk.auth.csrf_valid("session-b", token)
    assert not desk.auth.csrf_valid("", desk.auth.csrf_token(""))
    assert not desk.auth.csrf_valid("session-a", "żółw")
    assert not desk.auth.csrf_valid("session-a", "")


def test_sign_ins_and_failures_are_in_the_audit_log(desk: Desk, db: Database) -> None:
    user = enrolled(desk)
    with pytest.raises(LoginFailed):
        desk.auth.password("anna", "wrong-password-here", CLIENT)
    sign_in(desk, user)
    with db.sessions() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == "anna").order_by(AuditEntry.seq)
            )
        )
    assert actions == [
        "auth.second_factor_enrolled",
        "auth.login",
        "auth.login_failed",
        "auth.login",
    ]
