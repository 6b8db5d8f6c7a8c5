"""The danger rules, the duty roster and what a notification says (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from tarcza.alerts import rules

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def test_a_child_in_danger_now_alerts_the_police_whatever_the_category() -> None:
    shipped = rules.default_rules("police")
    for category in ("csam", "sextortion", "grooming", "other"):
        rule = rules.first_rule(shipped, child_in_danger=True, category=category)
        assert rule is not None and rule.agency == "police"
        assert rules.first_rule(shipped, child_in_danger=False, category=category) is None


def test_a_rule_may_name_categories_and_the_first_match_wins() -> None:
    deployment = (
        rules.DangerRule(
            agency="desk-a", child_in_danger=False, categories=frozenset({"sextortion"})
        ),
        rules.DangerRule(agency="desk-b"),
    )
    assert (
        rules.first_rule(deployment, child_in_danger=True, category="sextortion").agency == "desk-a"
    )  # type: ignore[union-attr]
    assert rules.first_rule(deployment, child_in_danger=True, category="csam").agency == "desk-b"  # type: ignore[union-attr]
    assert rules.first_rule(deployment, child_in_danger=False, category="csam") is None


def test_the_roster_escalates_level_by_level_and_stops_at_the_last() -> None:
    roster = rules.Roster(("a@policja.test", "b@policja.test"), escalate_after=timedelta(minutes=5))
    assert roster.contact(0) == "a@policja.test" and roster.contact(1) == "b@policja.test"
    assert roster.contact(2) is None
    assert roster.next_escalation(0, NOW) == NOW + timedelta(minutes=5)
    assert roster.next_escalation(1, NOW) is None
    assert rules.Roster(()).next_escalation(0, NOW) is None


def test_retries_end_after_max_tries() -> None:
    roster = rules.Roster(("a@policja.test",), retry_after=timedelta(seconds=30), max_tries=3)
    assert roster.next_try(1, NOW) == NOW + timedelta(seconds=30)
    assert roster.next_try(2, NOW) is not None
    assert roster.next_try(3, NOW) is None


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"contacts": ("not-an-address",)}, "not an e-mail address"),
        ({"contacts": ("a@b.pl, c@d.pl",)}, "not an e-mail address"),
        ({"contacts": ("a@b.pl",), "escalate_after": timedelta(0)}, "more than 0"),
        ({"contacts": ("a@b.pl",), "webhook_url": "ftp://x"}, "http"),
        ({"contacts": ("a@b.pl",), "max_tries": 0}, "at least once"),
    ],
)
def test_a_roster_that_cannot_work_is_refused_with_the_reason(kwargs: dict, says: str) -> None:
    with pytest.raises(rules.RosterRefused, match=says):
        rules.Roster(**kwargs)


@pytest.mark.parametrize("language", ["pl", "en"])
def test_a_notification_carries_the_reference_and_link_and_never_content(language: str) -> None:
    link = rules.staff_link("https://tarcza.example/", "TZ-AB12-CD34")
    assert link == "https://tarcza.example/staff/reports/TZ-AB12-CD34"
    subject, body = rules.notification_text("TZ-AB12-CD34", link, 0, NOW, language)
    assert "TZ-AB12-CD34" in subject and link in body and "2026-12-02 13:00 UTC" in body
    first = body
    _, escalated = rules.notification_text("TZ-AB12-CD34", link, 1, NOW, language)
    assert escalated != first and ("poziom 2" in escalated or "level 2" in escalated)


def test_the_webhook_body_is_the_same_facts_signed_with_the_secret() -> None:
    body = rules.webhook_body("TZ-AB12-CD34", "https://x/staff/reports/TZ-AB12-CD34", 1, NOW, 7)
    facts = json.loads(body)
    assert facts == {
        "alert": 7,
        "event": "child_in_danger",
        "level": 2,
        "link": "https://x/staff/reports/TZ-AB12-CD34",
        "raised_at": "2026-12-02T13:00:00+00:00",
        "reference": "TZ-AB12-CD34",
    }
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert rules.signature("s3cret", body) == f"sha256={expected}"
    assert rules.signature("other", body) != rules.signature("s3cret", body)


def test_the_shipped_rules_file_sends_a_child_in_danger_to_the_deployments_police() -> None:
    assert rules.default_rules("cbzc") == (rules.DangerRule(agency="cbzc", child_in_danger=True),)
    assert rules.default_rules("cbzc", "DE") == rules.default_rules("cbzc")  # PL's as fallback


def test_a_rules_file_names_agencies_and_categories() -> None:
    text = """
[[rule]]
agency = "sextortion-desk"
categories = ["sextortion"]

[[rule]]
agency = "police"
child_in_danger = true
"""
    loaded = rules.load_danger_rules(text, "cbzc")
    assert loaded == (
        rules.DangerRule(
            "sextortion-desk", child_in_danger=False, categories=frozenset({"sextortion"})
        ),
        rules.DangerRule("cbzc", child_in_danger=True),
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("rule = 1", "rule"),
        ("x = 1\n[[rule]]\nagency = 'p'\nchild_in_danger = true", "x"),
        ("[[rule]]\nchild_in_danger = true", "rule[0].agency"),
        ("[[rule]]\nagency = 'p'", "rule[0]"),
        ("[[rule]]\nagency = 'p'\ncategories = ['spam']", "rule[0].categories"),
        ("[[rule]]\nagency = 'p'\nchild_in_danger = 'yes'", "rule[0].child_in_danger"),
        ("[[rule]]\nagency = 'p'\nwhen = 1\nchild_in_danger = true", "rule[0].when"),
        ("[[rule", "(file)"),
    ],
)
def test_a_rules_file_that_cannot_work_names_the_key(text: str, key: str) -> None:
    with pytest.raises(rules.DangerRulesError) as refused:
        rules.load_danger_rules(text, "police")
    assert refused.value.key == key
