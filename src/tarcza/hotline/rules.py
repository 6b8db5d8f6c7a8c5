"""Hotline rules — pure: no web, database or network imports.

How an analyst's assessment is recorded and checked, when a second analyst must look, and
which actions follow from a classification and the country that hosts the content. The actions
are data (one TOML file per deployment, ``data/actions_PL.toml`` for Dyżurnet.pl), and so is the
directory of partner hotlines (``data/partner_hotlines.toml``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any, TypeVar


class Classification(StrEnum):
    """An analyst's legal classification of a content item (as INHOPE hotlines record it)."""

    BASELINE = "baseline"  # INTERPOL baseline: illegal in every country
    NATIONAL = "national"  # illegal under this country's law
    NOT_ILLEGAL = "not_illegal"
    NOT_ASSESSABLE = "not_assessable"


class ContentType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    IMAGE_AND_VIDEO = "image_and_video"
    TEXT = "text"
    OTHER = "other"


class AgeGroup(StrEnum):
    """The apparent age of the youngest child shown."""

    INFANT_TODDLER = "infant_toddler"
    PRE_PUBESCENT = "pre_pubescent"
    PUBESCENT = "pubescent"
    UNKNOWN = "unknown"


class SiteType(StrEnum):
    """Where the content is hosted, as DESIGN.md lists it."""

    WEBSITE = "website"
    IMAGE_HOST = "image_host"
    FILE_HOST = "file_host"
    FORUM = "forum"
    SOCIAL_NETWORK = "social_network"
    OTHER = "other"


class Action(StrEnum):
    NOTICE_AND_TAKEDOWN = "notice_and_takedown"  # to the provider's abuse contact
    REFER_POLICE = "refer_police"
    FORWARD_PARTNER_HOTLINE = "forward_partner_hotline"
    NOTICE_PROVIDER = "notice_provider"  # directly, where no hotline can act
    SECOND_REVIEW = "second_review"  # another analyst looks before anything else happens
    ESCALATE = "escalate"  # still online after the notice: a supervisor is told (monitor only)


# Actions that send an e-mail (a notice to a provider or a forward to a partner hotline).
MAILED = frozenset(
    {Action.NOTICE_AND_TAKEDOWN, Action.FORWARD_PARTNER_HOTLINE, Action.NOTICE_PROVIDER}
)


class ItemState(StrEnum):
    """Where a content item stands in the hotline's workflow."""

    OPEN = "open"  # waiting for an assessment
    REVIEW = "review"  # a second analyst must confirm the assessment
    ACTIONED = "actioned"  # notices sent or queued; the monitor re-checks it until it is gone
    CLOSED = "closed"  # nothing to do (not illegal, or nothing the rules ask for)
    REMOVED = "removed"  # the monitor saw it gone


class ActionStatus(StrEnum):
    """An action's progress: mailed actions go pending → sending → sent | failed (a passing
    failure back to pending); others are recorded."""

    PENDING = "pending"
    SENDING = "sending"  # handed (or about to be handed) to the mail server, not yet recorded
    SENT = "sent"
    FAILED = "failed"
    RECORDED = "recorded"


class Location(StrEnum):
    """Where the content is hosted, seen from the deployment's home country."""

    HOME = "home"
    PARTNER = "partner"  # a country with a partner hotline
    ELSEWHERE = "elsewhere"
    UNKNOWN = "unknown"  # the trace found no country


# --- assessment ------------------------------------------------------------------------------

ILLEGAL = frozenset({Classification.BASELINE, Classification.NATIONAL})
_BASELINE_AGES = frozenset({AgeGroup.INFANT_TODDLER, AgeGroup.PRE_PUBESCENT})
_VISUAL = frozenset({ContentType.IMAGE, ContentType.VIDEO, ContentType.IMAGE_AND_VIDEO})


class AssessmentRefused(ValueError):
    """An assessment whose parts contradict each other; ``field`` names the part to change."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Assessment:
    """An analyst's classification of one content item. Build it with :func:`check_assessment`."""

    classification: Classification
    content_type: ContentType
    age_group: AgeGroup
    site_type: SiteType

    @property
    def illegal(self) -> bool:
        return self.classification in ILLEGAL


def check_assessment(
    classification: Classification,
    content_type: ContentType,
    age_group: AgeGroup,
    site_type: SiteType,
) -> Assessment:
    """The assessment, or :class:`AssessmentRefused` when its parts contradict each other.

    - *baseline* needs a visual depiction (image, video or both) of a child apparently under 13
      (infant/toddler or pre-pubescent): those are INTERPOL's criteria. A pubescent child or an
      unknown age makes the item at most *national*.
    - *not_assessable* means the analyst could not see or judge the content, so the age group
      must be *unknown*.
    - *national* and *not_illegal* take any age group: national law covers text and drawings
      and cases where the age is uncertain; a not-illegal item may still show a child (child
      modelling, non-sexual nudity), and saying so helps when the site is reported again.
    """
    if classification is Classification.BASELINE:
        if content_type not in _VISUAL:
            raise AssessmentRefused(
                "content_type", "baseline material is an image or a video of a real child"
            )
        if age_group not in _BASELINE_AGES:
            raise AssessmentRefused(
                "age_group", "baseline material shows a child apparently under 13"
            )
    if classification is Classification.NOT_ASSESSABLE and age_group is not AgeGroup.UNKNOWN:
        raise AssessmentRefused(
            "age_group", "content that could not be assessed has no apparent age group"
        )
    return Assessment(classification, content_type, age_group, site_type)


def needs_second_review(classification: Classification, settings_flag: bool) -> bool:
    """Whether a second analyst must confirm: a *not illegal* finding, when configured.

    Closing an item as not illegal ends its life, so a deployment may want two people on it;
    every other classification leads to an action that others see anyway.
    """
    return settings_flag and classification is Classification.NOT_ILLEGAL


# --- action rules ----------------------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)
_COUNTRY = re.compile(r"[A-Z]{2}")
_ANY = "any"


class DataFileError(ValueError):
    """A data file that cannot be used; names the key and, when known, the line of its table."""

    def __init__(self, key: str, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}, {key}: {message}" if line else f"{key}: {message}")
        self.key = key
        self.line = line


class ActionRulesError(DataFileError):
    """A deployment's action file that cannot be used."""


@dataclass(frozen=True, slots=True)
class ActionRule:
    """For these classifications hosted at these locations, take these actions, in order."""

    classifications: frozenset[Classification]
    locations: frozenset[Location]
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class ActionRules:
    """One deployment's rules: exactly one rule for every classification and location."""

    home_country: str
    rules: tuple[ActionRule, ...]
    table: Mapping[tuple[Classification, Location], tuple[Action, ...]]

    def actions(self, classification: Classification, location: Location) -> tuple[Action, ...]:
        return self.table[classification, location]


def locate(
    home_country: str, hosting_country: str | None, partner_countries: frozenset[str]
) -> Location:
    """Where ``hosting_country`` (ISO 3166 alpha-2, any case; None or "" when unknown) lies.

    The home country wins over a partner entry for it. A code that is not two letters raises
    ``ValueError``: it is a bug upstream, not a country.
    """
    if hosting_country is None or hosting_country == "":
        return Location.UNKNOWN
    country = _country(hosting_country)
    if country == home_country:
        return Location.HOME
    if country in {_country(c) for c in partner_countries}:
        return Location.PARTNER
    return Location.ELSEWHERE


def decide(
    rules: ActionRules,
    classification: Classification,
    hosting_country: str | None,
    partner_countries: frozenset[str],
) -> tuple[Action, ...]:
    """The actions, in order, for an item of ``classification`` hosted in ``hosting_country``.

    Total: the loader refused any rule set with a gap, so every classification and every
    two-letter country (or None) has an answer; an empty tuple means no action.
    """
    return rules.actions(
        classification, locate(rules.home_country, hosting_country, partner_countries)
    )


def load_action_rules(toml_text: str) -> ActionRules:
    """Read a deployment's action file (see ``data/actions_PL.toml`` for its shape).

    Raises :class:`ActionRulesError` naming the key (``rule[2].actions[0]``) and the line of
    the rule's ``[[rule]]`` header for unknown names, missing keys, a classification and
    location that two rules both cover, or one that no rule covers.
    """
    document = _parse_toml(toml_text, ActionRulesError)
    _only_keys(document, {"home_country", "rule"}, "", ActionRulesError)
    home = document.get("home_country")
    if not isinstance(home, str) or not _COUNTRY.fullmatch(home):
        raise ActionRulesError("home_country", "must be a two-letter country code like 'PL'")
    entries = document.get("rule")
    if not isinstance(entries, list) or not entries:
        raise ActionRulesError("rule", "at least one [[rule]] table is needed")
    lines = _header_lines(toml_text, "rule")
    rules: list[ActionRule] = []
    table: dict[tuple[Classification, Location], tuple[Action, ...]] = {}
    owner: dict[tuple[Classification, Location], int] = {}
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else None
        rule = _read_rule(entry, f"rule[{index}]", line)
        for cell in ((c, loc) for c in rule.classifications for loc in rule.locations):
            if cell in table:
                raise ActionRulesError(
                    f"rule[{index}]",
                    f"{cell[0]} at {cell[1]} is already decided by rule[{owner[cell]}]",
                    line,
                )
            table[cell] = rule.actions
            owner[cell] = index
        rules.append(rule)
    missing = [f"{c} at {loc}" for c in Classification for loc in Location if (c, loc) not in table]
    if missing:
        raise ActionRulesError("rule", "no rule decides " + ", ".join(missing))
    return ActionRules(home, tuple(rules), MappingProxyType(table))


def default_action_rules(country: str = "PL") -> ActionRules:
    """The rules shipped for ``country`` (``data/actions_<CC>.toml``)."""
    return load_action_rules(_data_text(f"actions_{_country(country)}.toml"))


def _read_rule(entry: object, key: str, line: int | None) -> ActionRule:
    if not isinstance(entry, dict):
        raise ActionRulesError(key, "must be a table", line)
    _only_keys(entry, {"classification", "where", "actions"}, key + ".", ActionRulesError, line)
    classifications = _names(entry, "classification", Classification, key, line)
    where = _names(entry, "where", Location, key, line, allow_any=True)
    actions = entry.get("actions")
    if not isinstance(actions, list):
        raise ActionRulesError(f"{key}.actions", "must be a list (empty for no action)", line)
    chosen = tuple(_member(Action, a, f"{key}.actions[{i}]", line) for i, a in enumerate(actions))
    if len(set(chosen)) != len(chosen):
        raise ActionRulesError(f"{key}.actions", "names an action twice", line)
    return ActionRule(frozenset(classifications), frozenset(where), chosen)


def _names(
    entry: Mapping[str, Any],
    name: str,
    enum: type[E],
    key: str,
    line: int | None,
    allow_any: bool = False,
) -> set[E]:
    """A key holding one name or a list of names of ``enum`` (or "any", where allowed)."""
    value = entry.get(name)
    if value is None:
        raise ActionRulesError(f"{key}.{name}", "is missing", line)
    if allow_any and value == _ANY:
        return set(enum)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ActionRulesError(f"{key}.{name}", "names nothing", line)
    return {_member(enum, v, f"{key}.{name}[{i}]", line) for i, v in enumerate(values)}


def _member(enum: type[E], value: object, key: str, line: int | None) -> E:
    if isinstance(value, str) and value in {m.value for m in enum}:
        return enum(value)
    known = ", ".join(m.value for m in enum)
    raise ActionRulesError(key, f"unknown name {value!r} (known: {known})", line)


# --- partner hotlines ------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


class PartnerDirectoryError(DataFileError):
    """A partner directory that cannot be used."""


@dataclass(frozen=True, slots=True)
class PartnerHotline:
    """An INHOPE member hotline that takes forwarded reports about content hosted in its country."""

    country: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class PartnerDirectory:
    """Partner hotlines by country code."""

    hotlines: Mapping[str, PartnerHotline]

    @property
    def countries(self) -> frozenset[str]:
        return frozenset(self.hotlines)

    def for_country(self, country: str) -> PartnerHotline | None:
        return self.hotlines.get(_country(country))


def load_partner_directory(toml_text: str) -> PartnerDirectory:
    """Read a directory of ``[hotline.XX]`` tables, each with ``name`` and ``email``."""
    document = _parse_toml(toml_text, PartnerDirectoryError)
    _only_keys(document, {"hotline"}, "", PartnerDirectoryError)
    tables = document.get("hotline")
    if not isinstance(tables, dict) or not tables:
        raise PartnerDirectoryError("hotline", "at least one [hotline.XX] table is needed")
    hotlines: dict[str, PartnerHotline] = {}
    for country, entry in tables.items():
        key = f"hotline.{country}"
        line = _line_of(toml_text, rf"\[\s*hotline\.{re.escape(country)}\s*\]")
        if not _COUNTRY.fullmatch(country):
            raise PartnerDirectoryError(key, "must be a two-letter upper-case country code", line)
        if not isinstance(entry, dict):
            raise PartnerDirectoryError(key, "must be a table", line)
        _only_keys(entry, {"name", "email"}, key + ".", PartnerDirectoryError, line)
        name, email = entry.get("name"), entry.get("email")
        if not isinstance(name, str) or not name.strip():
            raise PartnerDirectoryError(f"{key}.name", "is missing", line)
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            raise PartnerDirectoryError(f"{key}.email", "must be an e-mail address", line)
        hotlines[country] = PartnerHotline(country, name.strip(), email)
    return PartnerDirectory(hotlines)


def default_partner_directory() -> PartnerDirectory:
    """The directory shipped in ``data/partner_hotlines.toml`` (placeholder addresses)."""
    return load_partner_directory(_data_text("partner_hotlines.toml"))


# --- helpers ---------------------------------------------------------------------------------


def _country(code: str) -> str:
    country = code.strip().upper()
    if not _COUNTRY.fullmatch(country):
        raise ValueError(f"not a two-letter country code: {code!r}")
    return country


def _data_text(name: str) -> str:
    return resources.files("tarcza.hotline").joinpath("data", name).read_text(encoding="utf-8")


def _parse_toml(text: str, error: type[DataFileError]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise error("(file)", f"not valid TOML: {exc}") from None


def _only_keys(
    table: Mapping[str, Any],
    allowed: set[str],
    prefix: str,
    error: type[DataFileError],
    line: int | None = None,
) -> None:
    """Refuse unknown keys: a typo ("acitons") must not silently mean "no action"."""
    for name in table:
        if name not in allowed:
            raise error(
                f"{prefix}{name}", f"unknown key (known: {', '.join(sorted(allowed))})", line
            )


def _header_lines(text: str, name: str) -> list[int]:
    """The 1-based lines of the ``[[name]]`` headers, in order (tomllib keeps no positions)."""
    header = re.compile(rf"^[ \t]*\[\[\s*{re.escape(name)}\s*\]\]", re.MULTILINE)
    return [text.count("\n", 0, m.start()) + 1 for m in header.finditer(text)]


def _line_of(text: str, pattern: str) -> int | None:
    match = re.search(rf"^[ \t]*{pattern}", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


# --- pre-classification from the hash bank ---------------------------------------------------

# VICS (Project VIC) category 1 is child abuse material: at least nationally illegal.
_VICS_ILLEGAL = "vics:1"


def classification_from_label(label: str | None) -> Classification | None:
    """The classification a bank's label suggests, or None when it suggests none.

    A label naming a classification ("baseline", "national", any case) suggests it; VICS
    category 1 suggests *national* (abuse material, but VICS does not record INTERPOL's
    baseline criteria). The analyst still decides: this only fills the form.
    """
    if label is None:
        return None
    name = label.strip().lower()
    if name == _VICS_ILLEGAL:
        return Classification.NATIONAL
    try:
        return Classification(name)
    except ValueError:
        return None
