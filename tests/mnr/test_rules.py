"""The MNR tracker's pure rules: values, who may change what, overdue, history, suppression."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources

import pytest

from tarcza.accounts.permissions import AgencyKind, Principal, Relation, Role
from tarcza.mnr import rules
from tarcza.mnr.catalogue import load_catalogue, parse_catalogue
from tarcza.mnr.rules import ActionState, MnrRuleViolation, Phase

TODAY = date(2026, 12, 2)


def person(role: Role, kind: AgencyKind, agency: str) -> Principal:
    return Principal(1, "someone", agency, kind, role, True)


OFFICER = person(Role.OFFICER, AgencyKind.POLICE, "police")
ANALYST = person(Role.ANALYST, AgencyKind.HOTLINE, "hotline")
COORDINATOR = person(Role.COORDINATOR, AgencyKind.COORDINATOR, "ministry")
ADMIN = person(Role.ADMINISTRATOR, AgencyKind.POLICE, "police")
AUDITOR = person(Role.AUDITOR, AgencyKind.COORDINATOR, "ministry")


def violation(fn: object, *args: object) -> tuple[str, str]:
    with pytest.raises(MnrRuleViolation) as caught:
        fn(*args)  # type: ignore[operator]
    return caught.value.field, caught.value.code


def test_text_is_required_trimmed_bounded_and_free_of_control_characters() -> None:
    assert rules.check_evidence("  Two units trained.\r\nThird in 2027. ") == (
        "Two units trained.\nThird in 2027."
    )
    assert violation(rules.check_evidence, "   ") == ("evidence", "required")
    assert violation(rules.check_evidence, None) == ("evidence", "required")
    assert violation(rules.check_evidence, "x" * 4001) == ("evidence", "too_long")
    assert violation(rules.check_evidence, "a\x00b") == ("evidence", "control_character")
    assert violation(rules.check_text, "title", "line\nbreak", 300) == (
        "title",
        "control_character",
    )


def test_phases_states_and_due_days() -> None:
    assert rules.check_phase("3") is Phase.ESTABLISHED
    assert rules.check_phase(4) is Phase.MATURE
    for bad in ("0", "5", "x", ""):
        assert violation(rules.check_phase, bad) == ("phase", "unknown")
    assert rules.check_state("in_progress") is ActionState.IN_PROGRESS
    assert violation(rules.check_state, "finished") == ("state", "unknown")
    assert rules.check_due("2027-03-31") == date(2027, 3, 31)
    assert rules.check_due(date(2027, 1, 1)) == date(2027, 1, 1)
    assert violation(rules.check_due, "31.03.2027") == ("due", "not_a_date")
    assert violation(rules.check_due, "1999-12-31") == ("due", "out_of_range")


def test_responsible_agencies_and_institutions() -> None:
    known = ["police", "hotline", "ministry"]
    assert rules.check_agencies(["police", "hotline", "police"], known) == ("hotline", "police")
    assert violation(rules.check_agencies, ["police", "fbi"], known) == (
        "agencies",
        "unknown_agency",
    )
    assert rules.check_institutions([" Prokuratura Krajowa ", "Prokuratura Krajowa"]) == (
        "Prokuratura Krajowa",
    )
    assert violation(rules.check_institutions, ["ok", " "]) == ("institutions", "required")
    many = [f"Instytucja {i}" for i in range(rules.MAX_RESPONSIBLE + 1)]
    assert violation(rules.check_institutions, many) == ("institutions", "too_many")


def test_an_action_is_owned_by_a_responsible_institution() -> None:
    responsible = ("police", "Prokuratura Krajowa")
    assert rules.check_owner("Prokuratura Krajowa", responsible) == "Prokuratura Krajowa"
    assert rules.check_owner("police", responsible) == "police"
    assert violation(rules.check_owner, "hotline", responsible) == ("owner", "not_responsible")


@pytest.mark.parametrize(
    ("due", "state", "overdue"),
    [
        (date(2026, 12, 1), "planned", True),
        (date(2026, 12, 1), "in_progress", True),
        (date(2026, 12, 1), "done", False),
        (date(2026, 12, 1), "dropped", False),
        (TODAY, "planned", False),  # due today is not late yet
        (date(2027, 1, 1), "planned", False),
    ],
)
def test_overdue_is_past_due_and_still_open(due: date, state: str, overdue: bool) -> None:
    assert rules.is_overdue(due, state, TODAY) is overdue


def test_who_may_change_what() -> None:
    assert rules.relation_of(("police",), "police") is Relation.OWN
    assert rules.relation_of(("police",), "hotline") is Relation.OTHER
    # the programme's staff read it all; administrators and auditors do not
    assert all(rules.may_read(p) for p in (OFFICER, ANALYST, COORDINATOR))
    assert not rules.may_read(ADMIN) and not rules.may_read(AUDITOR)
    # evidence and actions: the responsible agency's people, and the coordinator
    assert rules.may_update(OFFICER, ("police",))
    assert not rules.may_update(ANALYST, ("police",))
    assert rules.may_update(ANALYST, ("hotline", "police"))
    assert rules.may_update(COORDINATOR, ("police",))
    assert not rules.may_update(ADMIN, ("police",))
    # names, phases, responsibility: the coordinator only
    assert rules.may_manage(COORDINATOR)
    assert not any(rules.may_manage(p) for p in (OFFICER, ANALYST, ADMIN, AUDITOR))
    half = Principal(1, "x", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, False)
    assert not rules.may_read(half) and not rules.may_manage(half)


def test_history_keeps_only_what_changed_in_order() -> None:
    before = {"evidence": "", "phase": "1", "name_pl": "A"}
    after = {"phase": "1", "evidence": "New", "name_pl": "B"}
    assert rules.changes(before, after, 7) == [
        rules.Change("evidence", "", "New", 7),
        rules.Change("name_pl", "A", "B", 7),
    ]
    assert rules.changes({}, {"title": "T"}) == [rules.Change("title", None, "T")]


def test_small_counts_are_suppressed_and_so_are_figures_resting_on_few() -> None:
    count = rules.BY_KEY["helpline.contacts"]
    hours = rules.BY_KEY["takedown.hours_to_removal"]
    bank = rules.BY_KEY["banks.signals"]
    assert rules.show(count, rules.Measure(3, 3)) == rules.Shown(count.key, count.unit, None, True)
    assert rules.show(count, rules.Measure(5, 5)).value == 5
    assert rules.show(count, rules.Measure(0, 0)) == rules.Shown(count.key, count.unit, 0, False)
    assert rules.show(hours, rules.Measure(2.5, 4)).suppressed
    assert rules.show(hours, rules.Measure(2.5, 9)).value == 2.5
    assert rules.show(hours, rules.Measure(None, 0)) == rules.Shown(
        hours.key, hours.unit, None, False
    )
    assert rules.show(count, None).value is None
    assert rules.show(bank, rules.Measure(3, 3)).value == 3  # hashes are no people
    assert rules.show(count, rules.Measure(7, 7), threshold=10).suppressed


def test_the_indicators_bound_to_each_capability() -> None:
    bound = {n: {i.key.split(".")[0] for i in rules.indicators_of(n)} for n in rules.NUMBERS}
    assert bound[4] == {"police"}
    assert bound[7] == {"banks"}
    assert bound[11] == {"helpline"}
    assert bound[12] == {"hotline"}
    assert bound[16] == {"takedown"}
    assert bound[17] == {"industry"}
    assert {n for n, keys in bound.items() if keys} == {4, 7, 11, 12, 16, 17}


def test_the_catalogue_has_21_capabilities_in_6_domains_in_both_languages() -> None:
    catalogue = load_catalogue({"police": "cbzc"})
    assert [d.code for d in catalogue.domains] == [
        "policy", "justice", "victim", "societal", "industry", "media",
    ]  # fmt: skip
    assert [c.number for c in catalogue.capabilities] == list(range(1, 22))
    per_domain = [
        sum(c.domain == d.code for c in catalogue.capabilities) for d in catalogue.domains
    ]
    assert per_domain == [3, 4, 4, 4, 4, 2]
    by_number = {c.number: c for c in catalogue.capabilities}
    assert by_number[4].name_en == "Dedicated law enforcement"
    assert by_number[4].agencies == ("cbzc",)  # mapped to the deployment's police code
    assert by_number[11].name_pl == "Telefon zaufania dla dzieci"
    for c in catalogue.capabilities:
        assert c.name_pl and c.name_en and c.description_pl and c.description_en


def test_the_catalogue_follows_the_luxembourg_terminology_guidelines() -> None:
    text = (resources.files("tarcza.mnr") / "data" / "capabilities.toml").read_text("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for advised_against in ("pornograph", "pornograf", "prostitut", "child sex tourism"):
        assert advised_against not in body.lower()
    assert "child sexual abuse material" in body
    assert "materiałów przedstawiających seksualne wykorzystywanie dzieci" in body


def test_a_broken_catalogue_is_refused() -> None:
    data = tomllib.loads(
        (resources.files("tarcza.mnr") / "data" / "capabilities.toml").read_text("utf-8")
    )
    data["capabilities"] = data["capabilities"][:-1]
    with pytest.raises(ValueError, match="numbered 1 to 21"):
        parse_catalogue(data, {})
    data = tomllib.loads(
        (resources.files("tarcza.mnr") / "data" / "capabilities.toml").read_text("utf-8")
    )
    data["capabilities"][0]["domain"] = "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        parse_catalogue(data, {})


def test_a_part_is_hidden_when_its_difference_from_the_whole_is_small() -> None:
    def counts(referrals: float | None, acknowledged: float | None) -> dict[str, rules.Shown]:
        unit = rules.Unit.COUNT
        return {
            "police.referrals": rules.Shown("police.referrals", unit, referrals, False),
            "police.acknowledged": rules.Shown("police.acknowledged", unit, acknowledged, False),
        }

    hidden = rules.protect_differences(counts(40, 37))["police.acknowledged"]  # 3 pending
    assert hidden.value is None and hidden.suppressed
    assert rules.protect_differences(counts(40, 40))["police.acknowledged"].value == 40
    assert rules.protect_differences(counts(40, 30))["police.acknowledged"].value == 30
    assert rules.protect_differences(counts(None, 30))["police.acknowledged"].value == 30
