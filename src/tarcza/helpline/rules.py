"""Child helpline rules — pure: no web, database or network imports.

What a contact is made of (the Child Helpline International data categories, channels,
callers, age bands, risk), what a counsellor must give for a name or a number to be kept,
how the case queue is ordered, when records expire, and how the directory of local services
is read and searched.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from tarcza.intake.rules import AgeRange, Category, RuleViolation, clean_text

E = TypeVar("E", bound=StrEnum)

MAX_SUMMARY = 4000
MAX_NOTE = 4000
MAX_NAME = 120
MAX_NUMBER = 40
MAX_REASON = 1000
MAX_DURATION_MINUTES = 600
MAX_CATEGORIES = 12


def N_(message: str) -> str:
    """Mark ``message`` as a catalog id; pure, no web import."""
    return message


class Channel(StrEnum):
    PHONE = "phone"
    CHAT = "chat"
    EMAIL = "email"
    WEB = "web"


class Caller(StrEnum):
    """Who got in touch."""

    CHILD = "child"
    PARENT = "parent"
    PROFESSIONAL = "professional"
    OTHER = "other"


class AgeBand(StrEnum):
    """The child's age band as CHI counts it (the child the contact is about)."""

    AGE_0_6 = "0_6"
    AGE_7_9 = "7_9"
    AGE_10_12 = "10_12"
    AGE_13_15 = "13_15"
    AGE_16_17 = "16_17"
    AGE_18_PLUS = "18_plus"
    UNKNOWN = "unknown"


class Risk(StrEnum):
    """How urgent the child's situation is; IMMEDIATE: in danger now."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    IMMEDIATE = "immediate"


RISK_RANK: dict[Risk, int] = {risk: i for i, risk in enumerate(Risk)}


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Topic(StrEnum):
    """The reasons for contact, after the Child Helpline International data framework.

    The framework's main categories, with the online abuse subcategories this platform
    exists for spelt out (online sexual abuse, sextortion, grooming, sexual images of the
    child shared, cyberbullying).
    """

    ONLINE_SEXUAL_ABUSE = "online_sexual_abuse"
    SEXTORTION = "sextortion"
    GROOMING = "grooming"
    SEXUAL_IMAGES = "sexual_images"
    CYBERBULLYING = "cyberbullying"
    SEXUAL_ABUSE = "sexual_abuse"
    PHYSICAL_ABUSE = "physical_abuse"
    EMOTIONAL_ABUSE = "emotional_abuse"
    NEGLECT = "neglect"
    BULLYING = "bullying"
    COMMERCIAL_EXPLOITATION = "commercial_exploitation"
    MENTAL_HEALTH = "mental_health"
    SELF_HARM = "self_harm"
    SUICIDAL = "suicidal"
    FAMILY = "family"
    PEERS = "peers"
    SEXUALITY = "sexuality"
    PHYSICAL_HEALTH = "physical_health"
    SCHOOL = "school"
    DISCRIMINATION = "discrimination"
    SUBSTANCE_USE = "substance_use"
    BASIC_NEEDS = "basic_needs"
    LEGAL = "legal"
    MISSING = "missing"
    INFORMATION = "information"
    OTHER = "other"


# Topics of online sexual exploitation: they are what the hotline and the police act on.
ONLINE_ABUSE = frozenset(
    {
        Topic.ONLINE_SEXUAL_ABUSE,
        Topic.SEXTORTION,
        Topic.GROOMING,
        Topic.SEXUAL_IMAGES,
    }
)

# The intake category a report filed from a contact takes, first match wins.
_REPORT_CATEGORY: tuple[tuple[Topic, Category], ...] = (
    (Topic.SEXTORTION, Category.SEXTORTION),
    (Topic.GROOMING, Category.GROOMING),
    (Topic.SEXUAL_IMAGES, Category.CSAM),
    (Topic.ONLINE_SEXUAL_ABUSE, Category.CSAM),
)

_AGE_RANGE: dict[AgeBand, AgeRange] = {
    AgeBand.AGE_0_6: AgeRange.UNDER_13,
    AgeBand.AGE_7_9: AgeRange.UNDER_13,
    AgeBand.AGE_10_12: AgeRange.UNDER_13,
    AgeBand.AGE_13_15: AgeRange.AGE_13_15,
    AgeBand.AGE_16_17: AgeRange.AGE_16_17,
}


class HelplineRuleViolation(ValueError):
    """A value breaks a helpline rule: ``field`` names it, ``code`` says why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ContactFacts:
    """A contact as checked: everything but the sealed text."""

    channel: Channel
    caller: Caller
    age_band: AgeBand
    topics: tuple[Topic, ...]
    risk: Risk
    started_at: datetime
    duration_minutes: int


@dataclass(frozen=True)
class Identity:
    """A name or a number the counsellor kept, and why (never one without the other)."""

    name: str | None
    number: str | None
    reason: str


def _choice(kind: type[E], field: str, raw: object) -> E:
    try:
        return kind(str(raw))
    except ValueError:
        raise HelplineRuleViolation(field, "unknown", "Choose one of the options.") from None


def _text(field: str, raw: str | None, limit: int, *, required: bool, multiline: bool) -> str:
    text = (raw or "").strip()
    if not text:
        if required:
            raise HelplineRuleViolation(field, "required", "This is required.")
        return ""
    if len(text) > limit:
        raise HelplineRuleViolation(field, "too_long", f"At most {limit} characters.")
    try:
        return clean_text(field, text, limit, multiline=multiline)
    except RuleViolation as exc:
        raise HelplineRuleViolation(field, exc.code, exc.message) from exc


def check_contact(
    *,
    channel: object,
    caller: object,
    age_band: object,
    topics: Iterable[object],
    risk: object,
    started_at: datetime,
    duration_minutes: object,
    now: datetime,
) -> ContactFacts:
    """The contact's facts, or the first rule they break (the field named)."""
    chosen: list[Topic] = []
    for raw in topics:
        topic = _choice(Topic, "topics", raw)
        if topic not in chosen:
            chosen.append(topic)
    if not chosen:
        raise HelplineRuleViolation("topics", "required", "Choose at least one topic.")
    if len(chosen) > MAX_CATEGORIES:
        raise HelplineRuleViolation("topics", "too_many", f"At most {MAX_CATEGORIES} topics.")
    try:
        minutes = int(str(duration_minutes).strip() or "0")
    except ValueError:
        raise HelplineRuleViolation(
            "duration_minutes", "not_a_number", "Give whole minutes."
        ) from None
    if not 0 <= minutes <= MAX_DURATION_MINUTES:
        raise HelplineRuleViolation(
            "duration_minutes", "out_of_range", f"Between 0 and {MAX_DURATION_MINUTES} minutes."
        )
    if started_at.tzinfo is None:
        raise HelplineRuleViolation("started_at", "no_zone", "Give the time with its zone.")
    if started_at > now + timedelta(minutes=5):
        raise HelplineRuleViolation("started_at", "future", "The contact cannot start later.")
    if started_at < now - timedelta(days=31):
        raise HelplineRuleViolation("started_at", "too_old", "Record a contact within a month.")
    return ContactFacts(
        channel=_choice(Channel, "channel", channel),
        caller=_choice(Caller, "caller", caller),
        age_band=_choice(AgeBand, "age_band", age_band),
        topics=tuple(chosen),
        risk=_choice(Risk, "risk", risk),
        started_at=started_at,
        duration_minutes=minutes,
    )


def check_summary(raw: str | None) -> str:
    """The counsellor's summary: required, at most 4,000 characters (sealed when stored)."""
    return _text("summary", raw, MAX_SUMMARY, required=True, multiline=True)


def check_note(raw: str | None) -> str:
    return _text("note", raw, MAX_NOTE, required=True, multiline=True)


def check_reason(raw: str | None, field: str = "reason") -> str:
    return _text(field, raw, MAX_REASON, required=True, multiline=True)


def check_identity(name: str | None, number: str | None, reason: str | None) -> Identity | None:
    """A name or number only with the reason it is kept; none given: None (minimal data)."""
    clean_name = _text("name", name, MAX_NAME, required=False, multiline=False)
    clean_number = _text("number", number, MAX_NUMBER, required=False, multiline=False)
    if clean_number and not all(c.isdigit() or c in "+ -()" for c in clean_number):
        raise HelplineRuleViolation("number", "invalid", "Digits, spaces, +, - and () only.")
    if not (clean_name or clean_number):
        if (reason or "").strip():
            raise HelplineRuleViolation(
                "identity_reason", "nothing_to_keep", "A reason only with a name or a number."
            )
        return None
    why = _text("identity_reason", reason, MAX_REASON, required=True, multiline=False)
    return Identity(clean_name or None, clean_number or None, why)


def check_follow_up(raw: str | None, today: date) -> date | None:
    """A next follow-up date (ISO), not in the past; empty: none."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise HelplineRuleViolation("next_follow_up", "not_a_date", "Give a date.") from None
    if day < today:
        raise HelplineRuleViolation("next_follow_up", "past", "Choose today or a later day.")
    return day


def report_category(topics: Sequence[Topic]) -> Category:
    """The intake category of a report filed from a contact with these topics."""
    for topic, category in _REPORT_CATEGORY:
        if topic in topics:
            return category
    return Category.OTHER


def age_range(band: AgeBand) -> AgeRange | None:
    """The intake age range of a CHI age band (None when the child's age is not known)."""
    return _AGE_RANGE.get(band)


# -- the case queue -----------------------------------------------------------------------------


def queue_key(
    risk: Risk, follow_up: date | None, today: date, created: datetime
) -> tuple[Any, ...]:
    """Sort key of an open case: follow-ups due first, then risk, then the nearest follow-up.

    A case whose follow-up day has come comes before any that is not due; among them, the
    higher risk first, then the earlier follow-up day, then the older case.
    """
    due = follow_up is not None and follow_up <= today
    return (
        0 if due else 1,
        -RISK_RANK[risk],
        follow_up or date.max,
        created,
    )


# -- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """How long each kind of record is kept, in days.

    ``contacts``: a contact not part of any case, from when it was recorded; ``cases``: a
    closed case (with its contacts, notes and referral records), from when it was closed. An
    open case is never deleted.
    """

    contacts: int
    cases: int

    def __post_init__(self) -> None:
        if self.contacts < 1 or self.cases < 1:
            raise ValueError("retention is at least one day")

    def contact_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.contacts)

    def case_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.cases)


# -- the directory of local services ------------------------------------------------------------

# Poland's voivodeships: the regions a service is listed under ("national" for the whole country).
REGIONS_PL = (
    "dolnoslaskie",
    "kujawsko-pomorskie",
    "lubelskie",
    "lubuskie",
    "lodzkie",
    "malopolskie",
    "mazowieckie",
    "opolskie",
    "podkarpackie",
    "podlaskie",
    "pomorskie",
    "slaskie",
    "swietokrzyskie",
    "warminsko-mazurskie",
    "wielkopolskie",
    "zachodniopomorskie",
)
NATIONAL = "national"


@dataclass(frozen=True)
class Service:
    """One local service a child can be referred onwards to."""

    id: str
    region: str
    name: str
    kind: str
    city: str
    phone: str
    hours: str
    url: str
    example: bool


def parse_services(data: Mapping[str, Any], regions: Sequence[str]) -> list[Service]:
    """The ``[[service]]`` entries of a directory file; ValueError naming the bad entry."""
    known = {*regions, NATIONAL}
    seen: set[str] = set()
    found = []
    for i, raw in enumerate(data.get("service", [])):
        try:
            entry = Service(
                id=str(raw["id"]),
                region=str(raw["region"]),
                name=str(raw["name"]),
                kind=str(raw["kind"]),
                city=str(raw.get("city", "")),
                phone=str(raw.get("phone", "")),
                hours=str(raw.get("hours", "")),
                url=str(raw.get("url", "")),
                example=bool(raw.get("example", False)),
            )
        except KeyError as exc:
            raise ValueError(f"service {i + 1}: {exc.args[0]} is missing") from None
        if entry.region not in known:
            raise ValueError(f"service {entry.id}: unknown region {entry.region!r}")
        if entry.id in seen:
            raise ValueError(f"service {entry.id}: listed twice")
        seen.add(entry.id)
        found.append(entry)
    return found


def fold(text: str) -> str:
    """Lower case without diacritics ("Łódź" → "lodz"), for searching."""
    text = text.lower().replace("ł", "l")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_services(services: Sequence[Service], region: str | None, query: str) -> list[Service]:
    """Services of ``region`` (and the national ones) whose words match every word of ``query``."""
    words = fold(query).split()
    hits = []
    for service in services:
        if region and service.region not in (region, NATIONAL):
            continue
        haystack = fold(" ".join((service.name, service.kind, service.city, service.region)))
        if all(word in haystack for word in words):
            hits.append(service)
    return sorted(hits, key=lambda s: (s.region == NATIONAL, s.region, s.name))


# -- labels the pages show ----------------------------------------------------------------------

TOPIC_LABELS: dict[Topic, str] = {
    Topic.ONLINE_SEXUAL_ABUSE: N_("Online sexual abuse"),
    Topic.SEXTORTION: N_("Sextortion"),
    Topic.GROOMING: N_("Grooming"),
    Topic.SEXUAL_IMAGES: N_("Sexual images of the child shared"),
    Topic.CYBERBULLYING: N_("Cyberbullying"),
    Topic.SEXUAL_ABUSE: N_("Sexual abuse (offline)"),
    Topic.PHYSICAL_ABUSE: N_("Physical abuse"),
    Topic.EMOTIONAL_ABUSE: N_("Emotional abuse"),
    Topic.NEGLECT: N_("Neglect"),
    Topic.BULLYING: N_("Bullying"),
    Topic.COMMERCIAL_EXPLOITATION: N_("Commercial exploitation"),
    Topic.MENTAL_HEALTH: N_("Mental health"),
    Topic.SELF_HARM: N_("Self-harm"),
    Topic.SUICIDAL: N_("Suicidal thoughts"),
    Topic.FAMILY: N_("Family relationships"),
    Topic.PEERS: N_("Peer relationships"),
    Topic.SEXUALITY: N_("Sexuality and sexual health"),
    Topic.PHYSICAL_HEALTH: N_("Physical health"),
    Topic.SCHOOL: N_("School and education"),
    Topic.DISCRIMINATION: N_("Discrimination"),
    Topic.SUBSTANCE_USE: N_("Alcohol and drugs"),
    Topic.BASIC_NEEDS: N_("Basic needs"),
    Topic.LEGAL: N_("Legal matters"),
    Topic.MISSING: N_("Missing child"),
    Topic.INFORMATION: N_("Information request"),
    Topic.OTHER: N_("Other"),
}
