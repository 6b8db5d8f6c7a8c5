"""The pure account rules: usernames, passwords, TOTP steps, recovery codes, lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tarcza.accounts import rules
from tarcza.accounts.rules import AccountRuleViolation

SECRET = rules.new_totp_secret()
NOW = datetime(2025, 3, 14, 9, 26, 50, tzinfo=UTC)
STEP = int(NOW.timestamp()) // rules.TOTP_STEP


@given(st.text(max_size=60))
def test_normalising_a_username_twice_changes_nothing(raw: str) -> None:
    once = rules.normalise_username(raw)
    assert rules.normalise_username(once) == once


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=2, max_size=40))
def test_a_username_matches_whatever_its_case_and_surrounding_space(name: str) -> None:
    assert rules.normalise_username(f"  {name.upper()}\t") == name


def test_username_rules() -> None:
    assert rules.check_username(" Anna.Nowak ") == "anna.nowak"
    for bad in ("a", "-anna", "anna nowak", "anna@hotline", "x" * 41, "żaneta", "ann\x00a"):
        with pytest.raises(AccountRuleViolation) as caught:
            rules.check_username(bad)
        assert caught.value.field == "username" and caught.value.code == "invalid"


def test_password_rules_follow_length_and_guessability() -> None:
    rules.check_password("correct-horse-battery", "anna")
    cases = {
        "short-one": "too_short",
        "x" * 257: "too_long",
        "Password1234": "guessable",
        "my-name-is-anna-ok": "guessable",
    }
    for password, code in cases.items():
        with pytest.raises(AccountRuleViolation) as caught:
            rules.check_password(password, "anna")
        assert caught.value.code == code


def test_generated_passwords_pass_the_rules_and_differ() -> None:
    made = {rules.new_password() for _ in range(20)}
    assert len(made) == 20
    for password in made:
        rules.check_password(password, "anna")


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_a_code_one_step_early_or_late_is_accepted(drift: int) -> None:
    code = rules.totp_code(SECRET, NOW + timedelta(seconds=drift * rules.TOTP_STEP))
    assert rules.totp_step(SECRET, code, NOW, None) == STEP + drift


@pytest.mark.parametrize("drift", [-2, 2, 10])
def test_a_code_two_steps_away_is_refused(drift: int) -> None:
    code = rules.totp_code(SECRET, NOW + timedelta(seconds=drift * rules.TOTP_STEP))
    assert rules.totp_step(SECRET, code, NOW, None) is None


def test_a_code_works_once_and_never_an_earlier_one_after_it() -> None:
    code = rules.totp_code(SECRET, NOW)
    assert rules.totp_step(SECRET, code, NOW, None) == STEP
    assert rules.totp_step(SECRET, code, NOW, STEP) is None
    earlier = rules.totp_code(SECRET, NOW - timedelta(seconds=rules.TOTP_STEP))
    assert rules.totp_step(SECRET, earlier, NOW, STEP) is None
    later = rules.totp_code(SECRET, NOW + timedelta(seconds=rules.TOTP_STEP))
    assert rules.totp_step(SECRET, later, NOW, STEP) == STEP + 1


def test_a_code_may_be_typed_with_spaces() -> None:
    code = rules.totp_code(SECRET, NOW)
    assert rules.totp_step(SECRET, f" {code[:3]} {code[3:]} ", NOW, None) == STEP


@given(st.text(max_size=20))
@example("١٢٣٤٥٦")
@example("²³⁴⁵⁶⁷")
def test_any_text_as_a_code_is_answered_never_raised(typed: str) -> None:
    # Other scripts' digits ("١٢٣٤٥٦") pass str.isdigit but must not reach compare_digest.
    step = rules.totp_step(SECRET, typed, NOW, None)
    assert step is None or typed.strip().replace(" ", "") == rules.totp_code(SECRET, NOW)


def test_totp_uri_names_issuer_and_account() -> None:
    uri = rules.totp_uri(SECRET, "anna", "hotline")
    assert uri.startswith("otpauth://totp/tarcza:anna%40hotline?")
    assert f"secret={SECRET}" in uri and "issuer=tarcza" in uri


def test_ten_recovery_codes_of_twelve_characters_all_different() -> None:
    codes = rules.new_recovery_codes()
    assert len(codes) == rules.RECOVERY_CODES == len(set(codes))
    assert all(rules.looks_like_recovery_code(code) for code in codes)


@given(st.text(alphabet="abcdefghjkmnpqrstuvwxyz23456789", min_size=12, max_size=12))
def test_a_recovery_code_compares_without_case_spaces_or_dashes(raw: str) -> None:
    shown = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    typed = f" {raw[:4].upper()} {raw[4:8]}–{raw[8:]} "
    assert rules.normalise_recovery_code(typed) == rules.normalise_recovery_code(shown) == raw


@given(st.text(max_size=40))
def test_normalising_a_recovery_code_twice_changes_nothing(raw: str) -> None:
    once = rules.normalise_recovery_code(raw)
    assert rules.normalise_recovery_code(once) == once


def test_session_lifetimes() -> None:
    policy = rules.SessionPolicy()
    start = NOW
    assert not rules.session_expired(policy, start, start, True, start + timedelta(minutes=29))
    assert rules.session_expired(policy, start, start, True, start + timedelta(minutes=31))
    late = start + timedelta(hours=12, minutes=1)
    assert rules.session_expired(policy, start, late - timedelta(minutes=1), True, late)
    assert rules.session_expired(policy, start, start, False, start + timedelta(minutes=6))
    assert not rules.session_expired(policy, start, start, False, start + timedelta(minutes=4))
