"""Hotline rules: assessments that hold together, two-person review, and actions as data."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.hotline.rules import (
    Action,
    ActionRulesError,
    AgeGroup,
    AssessmentRefused,
    Classification,
    ContentType,
    Location,
    PartnerDirectoryError,
    SiteType,
    check_assessment,
    decide,
    default_action_rules,
    default_partner_directory,
    load_action_rules,
    load_partner_directory,
    locate,
    needs_second_review,
)

B, N = Classification.BASELINE, Classification.NATIONAL
NI, NA = Classification.NOT_ILLEGAL, Classification.NOT_ASSESSABLE
PARTNERS = frozenset({"DE", "NL", "GB", "US", "FR", "CZ", "SK", "LT", "UA"})

# --- the decision table of data/actions_PL.toml ----------------------------------------------

NT, POLICE = Action.NOTICE_AND_TAKEDOWN, Action.REFER_POLICE
FORWARD, NOTICE, REVIEW = (
    Action.FORWARD_PARTNER_HOTLINE,
    Action.NOTICE_PROVIDER,
    Action.SECOND_REVIEW,
)
PL_TABLE = [
    (B, "PL", (NT, POLICE)),
    (N, "PL", (NT, POLICE)),
    (B, "pl", (NT, POLICE)),
    (B, "DE", (FORWARD,)),
    (N, "NL", (FORWARD,)),
    (B, "us", (FORWARD,)),
    (N, "UA", (FORWARD,)),
    (B, "BR", (NOTICE,)),
    (N, "RU", (NOTICE,)),
    (B, None, (NOTICE,)),
    (N, "", (NOTICE,)),
    (NI, "PL", ()),
    (NI, "DE", ()),
    (NI, "BR", ()),
    (NI, None, ()),
    (NA, "PL", (REVIEW,)),
    (NA, "DE", (REVIEW,)),
    (NA, "BR", (REVIEW,)),
    (NA, None, (REVIEW,)),
]


@pytest.mark.parametrize(("classification", "country", "expected"), PL_TABLE)
def test_polish_deployment_decides(
    classification: Classification, country: str | None, expected: tuple[Action, ...]
) -> None:
    rules = default_action_rules("PL")
    assert decide(rules, classification, country, PARTNERS) == expected


def test_polish_table_covers_every_classification_and_location() -> None:
    rules = default_action_rules()
    seen = {(c, locate("PL", country, PARTNERS)) for c, country, _ in PL_TABLE}
    assert seen == set(itertools.product(Classification, Location))
    assert rules.home_country == "PL"


def test_home_country_wins_over_a_partner_entry_for_it() -> None:
    rules = default_action_rules()
    assert decide(rules, B, "PL", PARTNERS | {"PL"}) == (NT, POLICE)


def test_without_partners_everything_abroad_gets_a_direct_notice() -> None:
    assert decide(default_action_rules(), B, "DE", frozenset()) == (NOTICE,)


@pytest.mark.parametrize("code", ["POL", "P", "1A", "P L"])
def test_a_malformed_country_code_is_a_bug_not_a_country(code: str) -> None:
    with pytest.raises(ValueError, match="country code"):
        decide(default_action_rules(), B, code, PARTNERS)


@given(
    classification=st.sampled_from(Classification),
    country=st.text(alphabet=string.ascii_letters, min_size=2, max_size=2) | st.none(),
    partners=st.frozensets(st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)),
)
def test_decide_is_total(
    classification: Classification, country: str | None, partners: frozenset[str]
) -> None:
    actions = decide(default_action_rules(), classification, country, partners)
    assert all(isinstance(a, Action) for a in actions)
    assert len(set(actions)) == len(actions)
    assert (NT in actions) == (
        classification in (B, N) and country is not None and country.upper() == "PL"
    )


# --- loading rules ---------------------------------------------------------------------------

MINIMAL = """
home_country = "SK"

[[rule]]
classification = ["baseline", "national"]
where = "any"
actions = ["notice_provider"]

[[rule]]
classification = ["not_illegal", "not_assessable"]
where = "any"
actions = []
"""


def test_a_minimal_file_loads() -> None:
    rules = load_action_rules(MINIMAL)
    assert rules.home_country == "SK"
    assert decide(rules, B, "SK", frozenset()) == (NOTICE,)
    assert decide(rules, NA, None, frozenset()) == ()
    assert len(rules.rules) == 2


def test_order_of_actions_is_kept() -> None:
    text = MINIMAL.replace('["notice_provider"]', '["refer_police", "notice_and_takedown"]')
    assert decide(load_action_rules(text), N, "SK", frozenset()) == (POLICE, NT)


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('home_country = "PL"\n[[rule]\n', "(file)", None, "line 2"),
        ('home_country = "Polska"', "home_country", None, "two-letter"),
        ('home_country = "pl"', "home_country", None, "two-letter"),
        ('home_country = "PL"', "rule", None, "at least one"),
        ('home_country = "PL"\nrule = 3', "rule", None, "at least one"),
        ("extra = 1\n" + MINIMAL, "extra", None, "unknown key"),
        (MINIMAL + "extra = 1\n", "rule[1].extra", 9, "unknown key"),
        (MINIMAL.replace('"notice_provider"', '"notify"'), "rule[0].actions[0]", 4, "'notify'"),
        (
            MINIMAL.replace('"national"]', '"nationally_illegal"]'),
            "rule[0].classification[1]",
            4,
            "known:",
        ),
        (
            MINIMAL.replace('where = "any"\nactions = []', 'where = "abroad"\nactions = []'),
            "rule[1].where[0]",
            9,
            "'abroad'",
        ),
        (MINIMAL.replace("actions = []", "acitons = []"), "rule[1].acitons", 9, "unknown key"),
        (
            MINIMAL.replace("actions = []", 'actions = "none"'),
            "rule[1].actions",
            9,
            "must be a list",
        ),
        (
            MINIMAL.replace("actions = []", "actions = [1]"),
            "rule[1].actions[0]",
            9,
            "unknown name 1",
        ),
        (
            MINIMAL.replace('["notice_provider"]', '["notice_provider", "notice_provider"]'),
            "rule[0].actions",
            4,
            "twice",
        ),
        (
            MINIMAL.replace('classification = ["not_illegal", "not_assessable"]\n', ""),
            "rule[1].classification",
            9,
            "missing",
        ),
        (
            MINIMAL.replace(
                'classification = ["not_illegal", "not_assessable"]', "classification = []"
            ),
            "rule[1].classification",
            9,
            "names nothing",
        ),
        (
            MINIMAL.replace('["not_illegal", "not_assessable"]', '"not_illegal"'),
            "rule",
            None,
            "not_assessable at home",
        ),
        (
            MINIMAL.replace('["not_illegal", "not_assessable"]', '["not_illegal", "baseline"]'),
            "rule[1]",
            9,
            "already decided by rule[0]",
        ),
    ],
)
def test_a_bad_rules_file_names_the_key_and_line(
    text: str, key: str, line: int | None, words: str
) -> None:
    with pytest.raises(ActionRulesError) as refused:
        load_action_rules(text)
    assert refused.value.key == key
    assert refused.value.line == line
    assert words in str(refused.value)
    if line:
        assert str(refused.value).startswith(f"line {line}, {key}: ")


def test_a_gap_lists_every_missing_cell() -> None:
    text = MINIMAL.replace('where = "any"\nactions = []', 'where = "home"\nactions = []')
    with pytest.raises(ActionRulesError) as refused:
        load_action_rules(text)
    message = str(refused.value)
    for c, loc in itertools.product((NI, NA), ("partner", "elsewhere", "unknown")):
        assert f"{c} at {loc}" in message


def test_an_unknown_deployment_has_no_file() -> None:
    with pytest.raises(FileNotFoundError):
        default_action_rules("ZZ")


# --- partner directory -----------------------------------------------------------------------


def test_shipped_partner_directory_holds_only_placeholder_addresses() -> None:
    directory = default_partner_directory()
    assert directory.countries == PARTNERS
    assert all(h.email.endswith("@example.org") for h in directory.hotlines.values())
    de = directory.for_country("de")
    assert de is not None and de.country == "DE" and de.email == "forward-de@example.org"
    assert directory.for_country("PL") is None


def test_shipped_directory_and_rules_forward_to_a_known_hotline() -> None:
    directory = default_partner_directory()
    actions = decide(default_action_rules(), B, "CZ", directory.countries)
    assert actions == (FORWARD,) and directory.for_country("CZ") is not None


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ("[hotline", "(file)", None, "not valid TOML"),
        ("", "hotline", None, "at least one"),
        ('x = 1\n[hotline.DE]\nname = "a"\nemail = "a@example.org"', "x", None, "unknown key"),
        ('\n[hotline.de]\nname = "a"\nemail = "a@example.org"', "hotline.de", 2, "two-letter"),
        ('\n[hotline.DEU]\nname = "a"\nemail = "a@example.org"', "hotline.DEU", 2, "two-letter"),
        (
            '[hotline.DE]\nname = "a"\nemail = "a@example.org"\n\n'
            '[hotline.NL]\nemail = "b@example.org"',
            "hotline.NL.name",
            5,
            "missing",
        ),
        ('[hotline.DE]\nname = "a"\nemail = "not an address"', "hotline.DE.email", 1, "e-mail"),
        (
            '[hotline.DE]\nname = "a"\nemail = "a@example.org"\nphone = "1"',
            "hotline.DE.phone",
            1,
            "unknown key",
        ),
        ("hotline = 3", "hotline", None, "at least one"),
        ("[hotline]\nDE = 3", "hotline.DE", None, "must be a table"),
    ],
)
def test_a_bad_partner_directory_names_the_key_and_line(
    text: str, key: str, line: int | None, words: str
) -> None:
    with pytest.raises(PartnerDirectoryError) as refused:
        load_partner_directory(text)
    assert refused.value.key == key
    assert refused.value.line == line
    assert words in str(refused.value)


# --- assessment ------------------------------------------------------------------------------

VISUAL = (ContentType.IMAGE, ContentType.VIDEO, ContentType.IMAGE_AND_VIDEO)
YOUNG = (AgeGroup.INFANT_TODDLER, AgeGroup.PRE_PUBESCENT)


def coherent(c: Classification, t: ContentType, a: AgeGroup) -> bool:
    """The coherence rules, restated as a table for the exhaustive test."""
    if c is B:
        return t in VISUAL and a in YOUNG
    if c is NA:
        return a is AgeGroup.UNKNOWN
    return True


@pytest.mark.parametrize(
    ("classification", "content_type", "age_group"),
    list(itertools.product(Classification, ContentType, AgeGroup)),
)
def test_every_combination_is_accepted_exactly_when_coherent(
    classification: Classification, content_type: ContentType, age_group: AgeGroup
) -> None:
    for site in SiteType:
        if coherent(classification, content_type, age_group):
            assessment = check_assessment(classification, content_type, age_group, site)
            assert (assessment.classification, assessment.site_type) == (classification, site)
            assert assessment.illegal == (classification in (B, N))
        else:
            with pytest.raises(AssessmentRefused):
                check_assessment(classification, content_type, age_group, site)


@pytest.mark.parametrize(
    ("classification", "content_type", "age_group", "field"),
    [
        (B, ContentType.TEXT, AgeGroup.PRE_PUBESCENT, "content_type"),
        (B, ContentType.OTHER, AgeGroup.INFANT_TODDLER, "content_type"),
        (B, ContentType.IMAGE, AgeGroup.PUBESCENT, "age_group"),
        (B, ContentType.VIDEO, AgeGroup.UNKNOWN, "age_group"),
        (NA, ContentType.IMAGE, AgeGroup.PRE_PUBESCENT, "age_group"),
    ],
)
def test_an_incoherent_assessment_names_the_field(
    classification: Classification, content_type: ContentType, age_group: AgeGroup, field: str
) -> None:
    with pytest.raises(AssessmentRefused) as refused:
        check_assessment(classification, content_type, age_group, SiteType.IMAGE_HOST)
    assert refused.value.field == field
    assert refused.value.reason


def test_site_types_follow_the_design() -> None:
    assert [s.value for s in SiteType] == [
        "website",
        "image_host",
        "file_host",
        "forum",
        "social_network",
        "other",
    ]


@pytest.mark.parametrize(
    ("classification", "flag", "expected"),
    [(c, flag, flag and c is NI) for c in Classification for flag in (True, False)],
)
def test_second_review_only_for_not_illegal_when_configured(
    classification: Classification, flag: bool, expected: bool
) -> None:
    assert needs_second_review(classification, flag) is expected
