"""Intake rules: references, PINs, text, URLs, guidance, priority."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.intake import rules
from tarcza.intake.rules import Category, RuleViolation

REFERENCE = re.compile(r"^TZ-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_new_references_look_like_the_example_and_differ() -> None:
    refs = {rules.new_reference() for _ in range(2000)}
    assert len(refs) == 2000
    assert all(REFERENCE.match(r) for r in refs)


def test_references_avoid_letters_that_are_misread_aloud() -> None:
    assert not set("ILOU") & set("".join(rules.new_reference() for _ in range(500)))


@pytest.mark.parametrize(
    "typed",
    ["TZ-7K2M-9QXP", "tz-7k2m-9qxp", "7K2M9QXP", " tz 7k2m 9qxp ", "TZ7K2M9QXP", "7K2M-9QXP"],
)
def test_a_reference_is_recognised_however_it_is_typed(typed: str) -> None:
    assert rules.normalise_reference(typed) == "TZ-7K2M-9QXP"


def test_misread_letters_are_read_as_the_digits_they_look_like() -> None:
    assert rules.normalise_reference("TZ-OOIL-0000") == "TZ-0011-0000"


@pytest.mark.parametrize(
    "typed", ["", "TZ-1234", "TZ-1234-567U", "XX-1234-5678-9", "TZ-1234-56789"]
)
def test_what_cannot_be_a_reference_is_refused(typed: str) -> None:
    assert rules.normalise_reference(typed) is None


@given(st.text(max_size=40))
def test_reference_normalisation_is_idempotent(typed: str) -> None:
    once = rules.normalise_reference(typed)
    if once is not None:
        assert REFERENCE.match(once)
        assert rules.normalise_reference(once) == once


@given(st.integers(min_value=0, max_value=10**6 - 1))
def test_pins_normalise_with_spaces_and_hyphens(number: int) -> None:
    pin = f"{number:06d}"
    assert rules.normalise_pin(f"{pin[:3]} {pin[3:]}") == pin
    assert rules.normalise_pin(f"{pin[:3]}-{pin[3:]}") == pin


@pytest.mark.parametrize("typed", ["12345", "1234567", "12a456", "١٢٣٤٥٦"])
def test_what_cannot_be_a_pin_is_refused(typed: str) -> None:
    assert rules.normalise_pin(typed) is None


def test_new_pins_are_six_digits() -> None:
    assert all(re.fullmatch(r"\d{6}", rules.new_pin()) for _ in range(200))


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "\x1b[31m", "a\rb", "\ud800"])
def test_control_characters_and_lone_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(RuleViolation) as err:
        rules.clean_text("description", bad, 100, multiline=True)
    assert err.value.field == "description"


def test_newlines_and_tabs_are_kept_in_free_text_and_crlf_folds() -> None:
    assert rules.clean_text("d", "a\r\nb\tc\n", 100, multiline=True) == "a\nb\tc"


def test_single_line_text_refuses_newlines() -> None:
    with pytest.raises(RuleViolation):
        rules.clean_text("platform", "a\nb", 100)


def test_too_long_text_is_refused_with_the_limit() -> None:
    with pytest.raises(RuleViolation) as err:
        rules.clean_text("d", "x" * 11, 10)
    assert err.value.code == "too_long" and "10" in err.value.message


@given(st.text(max_size=60))
def test_clean_text_either_refuses_or_returns_storable_text(value: str) -> None:
    try:
        cleaned = rules.clean_text("d", value, 50, multiline=True)
    except RuleViolation:
        return
    assert "\x00" not in cleaned and "\r" not in cleaned
    assert cleaned == rules.clean_text("d", cleaned, 50, multiline=True)
    cleaned.encode("utf-8")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/a?b=c#d",
        "HTTPS://Example.COM:8443/x",
        "https://zażółć.example/ścieżka",
        "http://127.0.0.1/a",
        "http://[::1]:8080/",
    ],
)
def test_http_urls_are_accepted(url: str) -> None:
    assert rules.check_url("urls", url) == url


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "url_scheme"),
        ("javascript:alert(1)", "url_scheme"),
        ("example.com", "url_scheme"),
        ("http://", "invalid_url"),
        ("http://exa mple.com", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
        ("", "empty"),
    ],
)
def test_other_urls_are_refused_with_a_reason(url: str, code: str) -> None:
    with pytest.raises(RuleViolation) as err:
        rules.check_url("urls", url)
    assert err.value.code == code


@given(st.text(max_size=100))
def test_check_url_never_raises_anything_but_a_rule_violation(value: str) -> None:
    try:
        url = rules.check_url("urls", value)
    except RuleViolation:
        return
    assert url.lower().startswith(("http://", "https://"))


def test_sextortion_guidance_follows_europols_advice() -> None:
    items = rules.guidance_for(Category.SEXTORTION).items
    for needed in (
        "not_to_blame",
        "do_not_pay",
        "do_not_send_more",
        "stop_contact_keep_conversation",
        "keep_evidence",
        "report_account",
        "trusted_adult",
        "report_police",
    ):
        assert needed in items


def test_every_category_has_guidance() -> None:
    assert all(rules.guidance_for(c).items for c in Category)


def test_a_child_in_danger_outranks_every_other_report() -> None:
    danger = rules.initial_priority(child_in_danger=True, category=Category.OTHER)
    assert all(danger > rules.initial_priority(child_in_danger=False, category=c) for c in Category)


@pytest.mark.parametrize("email", ["a@b.pl", "first.last+tag@example.co.uk"])
def test_emails_are_accepted(email: str) -> None:
    assert rules.check_email("email", email) == email


@pytest.mark.parametrize("email", ["ab.pl", "a@b", "@b.pl", "a b@c.pl"])
def test_non_emails_are_refused(email: str) -> None:
    with pytest.raises(RuleViolation):
        rules.check_email("email", email)


@pytest.mark.parametrize(
    ("phone", "ok"),
    [("+48 600 100 200", True), ("(22) 123-45-67", True), ("call me", False), ("+", False)],
)
def test_phones(phone: str, ok: bool) -> None:
    if ok:
        assert rules.check_phone("phone", phone) == phone
    else:
        with pytest.raises(RuleViolation):
            rules.check_phone("phone", phone)


# -- the public stage --------------------------------------------------------------------------

STAGES = list(rules.PublicStage)


@pytest.mark.parametrize("current", STAGES)
@pytest.mark.parametrize("event", STAGES)
def test_a_stage_only_moves_forward(current: rules.PublicStage, event: rules.PublicStage) -> None:
    after = rules.combine_stage(current, event)
    assert after in (current, event)
    assert rules.PUBLIC_ORDER.index(after) >= rules.PUBLIC_ORDER.index(current)
    assert rules.PUBLIC_ORDER.index(after) >= rules.PUBLIC_ORDER.index(event)


def test_the_parents_report_reads_as_its_work_went() -> None:
    stage = rules.PublicStage.RECEIVED
    for event, expected in [
        (rules.PublicStage.IN_ASSESSMENT, rules.PublicStage.IN_ASSESSMENT),
        (rules.PublicStage.PASSED_TO_POLICE, rules.PublicStage.PASSED_TO_POLICE),
        # The notice went out in the same assessment: no step back from "the police".
        (rules.PublicStage.ACTION_TAKEN, rules.PublicStage.PASSED_TO_POLICE),
        (rules.PublicStage.CONTENT_REMOVED, rules.PublicStage.CONTENT_REMOVED),
        # Closing the work afterwards keeps the news the reporter hoped for.
        (rules.PublicStage.CLOSED, rules.PublicStage.CONTENT_REMOVED),
    ]:
        stage = rules.combine_stage(stage, event)
        assert stage is expected


def test_only_a_reopen_takes_the_stage_back() -> None:
    closed = rules.PublicStage.CLOSED
    assessing = rules.PublicStage.IN_ASSESSMENT
    assert rules.combine_stage(closed, assessing) is closed
    assert rules.combine_stage(closed, assessing, reopen=True) is assessing


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        (
            rules.Status.RECEIVED,
            rules.Status.IN_ASSESSMENT,
            (rules.PublicStage.IN_ASSESSMENT, False),
        ),
        (
            rules.Status.IN_ASSESSMENT,
            rules.Status.FORWARDED,
            (rules.PublicStage.ACTION_TAKEN, False),
        ),
        (rules.Status.FORWARDED, rules.Status.CLOSED, (rules.PublicStage.CLOSED, False)),
        (rules.Status.CLOSED, rules.Status.IN_ASSESSMENT, (rules.PublicStage.IN_ASSESSMENT, True)),
    ],
)
def test_a_casework_status_change_tells_the_reporter_one_stage(
    before: rules.Status, after: rules.Status, event: tuple[rules.PublicStage, bool]
) -> None:
    assert rules.stage_event_of_status_change(before, after) == event


def test_every_stage_has_a_label_a_next_step_and_an_older_status() -> None:
    assert set(rules.PUBLIC_STAGE_TEXT) == set(rules.PublicStage) == set(rules.LEGACY_STATUS)
    for label, next_step in rules.PUBLIC_STAGE_TEXT.values():
        assert label and next_step.endswith(".")
        # Child-friendly and discreet: no hosting, no agency beyond "the police".
        assert not any(w in next_step.lower() for w in ("host", "provider", "hotline in"))
