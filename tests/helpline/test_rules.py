"""The helpline's pure rules: a contact's facts, minimal data, the queue's order, retention,
the directory of local services."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tarcza.helpline import rules
from tarcza.helpline.directory import load_directory
from tarcza.intake.rules import AgeRange, Category

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def facts(**changes: object) -> rules.ContactFacts:
    values: dict[str, object] = {
        "channel": "chat",
        "caller": "parent",
        "age_band": "10_12",
        "topics": ["grooming", "grooming", "family"],
        "risk": "medium",
        "started_at": NOW - timedelta(minutes=5),
        "duration_minutes": "5",
        "now": NOW,
        **changes,
    }
    return rules.check_contact(**values)  # type: ignore[arg-type]


def test_a_contact_is_checked_and_its_topics_kept_once_in_order() -> None:
    got = facts()
    assert got.channel is rules.Channel.CHAT
    assert got.topics == (rules.Topic.GROOMING, rules.Topic.FAMILY)
    assert got.duration_minutes == 5


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"channel": "fax"}, "channel", "unknown"),
        ({"caller": ""}, "caller", "unknown"),
        ({"topics": []}, "topics", "required"),
        ({"topics": ["sextortion", "x"]}, "topics", "unknown"),
        ({"duration_minutes": "ten"}, "duration_minutes", "not_a_number"),
        ({"duration_minutes": -1}, "duration_minutes", "out_of_range"),
        ({"started_at": NOW + timedelta(hours=1)}, "started_at", "future"),
        ({"started_at": NOW - timedelta(days=40)}, "started_at", "too_old"),
        ({"started_at": datetime(2026, 12, 2, 11, 0)}, "started_at", "no_zone"),
    ],
)
def test_a_contact_breaking_a_rule_names_the_field(
    change: dict[str, object], field: str, code: str
) -> None:
    with pytest.raises(rules.HelplineRuleViolation) as caught:
        facts(**change)
    assert (caught.value.field, caught.value.code) == (field, code)


def test_no_name_or_number_is_kept_without_a_reason() -> None:
    assert rules.check_identity(None, "", "") is None
    with pytest.raises(rules.HelplineRuleViolation) as caught:
        rules.check_identity("Ala", None, "")
    assert caught.value.field == "identity_reason"
    with pytest.raises(rules.HelplineRuleViolation) as caught:
        rules.check_identity(None, None, "a reason for nothing")
    assert caught.value.code == "nothing_to_keep"
    with pytest.raises(rules.HelplineRuleViolation) as caught:
        rules.check_identity(None, "call me", "why")
    assert caught.value.field == "number"
    kept = rules.check_identity(" Ala ", "+48 (22) 000-00-00", "Call back at six.")
    assert kept == rules.Identity("Ala", "+48 (22) 000-00-00", "Call back at six.")


def test_a_report_from_a_contact_takes_the_most_specific_category_and_the_age_range() -> None:
    t = rules.Topic
    assert rules.report_category([t.FAMILY, t.GROOMING, t.SEXTORTION]) is Category.SEXTORTION
    assert rules.report_category([t.GROOMING]) is Category.GROOMING
    assert rules.report_category([t.SEXUAL_IMAGES]) is Category.CSAM
    assert rules.report_category([t.BULLYING]) is Category.OTHER
    assert rules.age_range(rules.AgeBand.AGE_7_9) is AgeRange.UNDER_13
    assert rules.age_range(rules.AgeBand.AGE_16_17) is AgeRange.AGE_16_17
    assert rules.age_range(rules.AgeBand.AGE_18_PLUS) is None
    assert rules.age_range(rules.AgeBand.UNKNOWN) is None


def test_the_queue_puts_due_follow_ups_first_then_risk_then_the_nearest_day() -> None:
    today = date(2026, 12, 2)
    t0 = NOW
    cases = {
        "immediate, no follow-up": (rules.Risk.IMMEDIATE, None),
        "low, due yesterday": (rules.Risk.LOW, today - timedelta(days=1)),
        "high, due today": (rules.Risk.HIGH, today),
        "high, in a week": (rules.Risk.HIGH, today + timedelta(days=7)),
        "high, tomorrow": (rules.Risk.HIGH, today + timedelta(days=1)),
    }
    order = sorted(cases, key=lambda k: rules.queue_key(*cases[k], today, t0))
    assert order == [
        "high, due today",
        "low, due yesterday",
        "immediate, no follow-up",
        "high, tomorrow",
        "high, in a week",
    ]


def test_a_follow_up_day_is_today_or_later() -> None:
    today = date(2026, 12, 2)
    assert rules.check_follow_up("", today) is None
    assert rules.check_follow_up("2026-12-02", today) == today
    for bad, code in (("2026-12-01", "past"), ("tomorrow", "not_a_date")):
        with pytest.raises(rules.HelplineRuleViolation) as caught:
            rules.check_follow_up(bad, today)
        assert caught.value.code == code


def test_retention_is_at_least_a_day_and_counts_back_from_now() -> None:
    kept = rules.Retention(contacts=30, cases=365)
    assert kept.contact_cutoff(NOW) == NOW - timedelta(days=30)
    assert kept.case_cutoff(NOW) == NOW - timedelta(days=365)
    with pytest.raises(ValueError):
        rules.Retention(contacts=0, cases=1)


def test_the_shipped_directory_lists_every_voivodeship_and_marks_its_examples() -> None:
    services = load_directory("PL")
    assert {s.region for s in services} == {*rules.REGIONS_PL, rules.NATIONAL}
    assert all(s.example for s in services)
    assert load_directory("XX") == []


def test_the_directory_is_searched_without_diacritics_and_keeps_national_services() -> None:
    services = load_directory("PL")
    found = rules.search_services(services, "lodzkie", "ŁÓDŹ kryzysowej")
    assert [s.city for s in found] == ["Łódź"]
    regional = rules.search_services(services, "slaskie", "")
    assert {s.region for s in regional} == {"slaskie", rules.NATIONAL}
    assert regional[-1].region == rules.NATIONAL  # the regional ones first
    assert rules.search_services(services, None, "no such words anywhere") == []


def test_a_directory_entry_must_name_a_known_region_once() -> None:
    entry = {"id": "a", "region": "mazowieckie", "name": "n", "kind": "k"}
    assert len(rules.parse_services({"service": [entry]}, rules.REGIONS_PL)) == 1
    with pytest.raises(ValueError, match="unknown region"):
        rules.parse_services({"service": [{**entry, "region": "mars"}]}, rules.REGIONS_PL)
    with pytest.raises(ValueError, match="listed twice"):
        rules.parse_services({"service": [entry, entry]}, rules.REGIONS_PL)
    with pytest.raises(ValueError, match="name is missing"):
        rules.parse_services({"service": [{"id": "b", "region": "national"}]}, rules.REGIONS_PL)
