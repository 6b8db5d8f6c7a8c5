"""A child in danger now: which reports alert the police duty desk, and how it escalates — pure.

The deployment's rules are data (:class:`DangerRule`, like the hotline's action rules): a
report that matches one is referred at once to the rule's agency (the police duty desk),
whether or not it names a link, and the duty contacts are notified. A notification carries
the report's reference and a link to it, never its content. Unacknowledged after
``escalate_after`` it goes to the next contact of the roster, until the last.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources

# The reason code a system-made danger referral carries (the pages translate it).
DANGER_REASON = "danger:child_in_danger"
# The header that carries the webhook's HMAC-SHA256 of its body.
SIGNATURE_HEADER = "X-Tarcza-Signature"
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class AlertState(StrEnum):
    """Where an alert stands: waiting for the duty desk, or acknowledged by someone there."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


class Channel(StrEnum):
    """How a duty contact is told."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class Delivery(StrEnum):
    """Where one notification stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DangerRule:
    """Reports that alert ``agency``: a child in danger now, or (if given) these categories."""

    agency: str
    child_in_danger: bool = True
    categories: frozenset[str] = frozenset()

    def matches(self, *, child_in_danger: bool, category: str) -> bool:
        """Whether a report with these facts alerts the rule's agency."""
        if self.child_in_danger and child_in_danger:
            return True
        return category in self.categories


class DangerRulesError(ValueError):
    """A danger-rules file that cannot be used: the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


CATEGORIES = frozenset({"csam", "sextortion", "grooming", "other"})


def load_danger_rules(toml_text: str, police_agency: str) -> tuple[DangerRule, ...]:
    """Read a deployment's danger rules (see ``data/danger_PL.toml``); "police" is its police.

    Raises :class:`DangerRulesError` naming the key for anything it cannot use: a rule that
    names no agency, an unknown category or key, or a rule that could never match.
    """
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise DangerRulesError("(file)", f"not valid TOML: {exc}") from None
    extra = set(document) - {"rule"}
    if extra:
        raise DangerRulesError(sorted(extra)[0], "unknown key")
    entries = document.get("rule")
    if not isinstance(entries, list) or not entries:
        raise DangerRulesError("rule", "at least one [[rule]] table is needed")
    return tuple(_rule(entry, f"rule[{i}]", police_agency) for i, entry in enumerate(entries))


def _rule(entry: object, key: str, police_agency: str) -> DangerRule:
    if not isinstance(entry, dict):
        raise DangerRulesError(key, "must be a table")
    extra = set(entry) - {"agency", "child_in_danger", "categories"}
    if extra:
        raise DangerRulesError(f"{key}.{sorted(extra)[0]}", "unknown key")
    agency = entry.get("agency")
    if not isinstance(agency, str) or not agency.strip():
        raise DangerRulesError(f"{key}.agency", "must name an agency")
    danger = entry.get("child_in_danger", False)
    if not isinstance(danger, bool):
        raise DangerRulesError(f"{key}.child_in_danger", "must be true or false")
    categories = entry.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise DangerRulesError(f"{key}.categories", "must be a list of category names")
    unknown = sorted(set(categories) - CATEGORIES)
    if unknown:
        raise DangerRulesError(f"{key}.categories", f"unknown category {unknown[0]!r}")
    if not danger and not categories:
        raise DangerRulesError(key, "matches no report: set child_in_danger or categories")
    return DangerRule(
        agency=police_agency if agency == "police" else agency,
        child_in_danger=danger,
        categories=frozenset(categories),
    )


def default_rules(police_agency: str, country: str = "PL") -> tuple[DangerRule, ...]:
    """The rules shipped for ``country`` (``data/danger_<CC>.toml``): a child in danger now
    goes to the police duty desk."""
    code = country.upper() if re.fullmatch(r"[A-Za-z]{2}", country) else "PL"
    folder = resources.files("tarcza.alerts").joinpath("data")
    name = (
        f"danger_{code}.toml"
        if folder.joinpath(f"danger_{code}.toml").is_file()
        else "danger_PL.toml"
    )
    return load_danger_rules(folder.joinpath(name).read_text(encoding="utf-8"), police_agency)


def first_rule(
    rules: Sequence[DangerRule], *, child_in_danger: bool, category: str
) -> DangerRule | None:
    """The first rule a report matches (None: it alerts no one)."""
    for rule in rules:
        if rule.matches(child_in_danger=child_in_danger, category=category):
            return rule
    return None


class RosterRefused(ValueError):
    """A duty roster that cannot work: the reason, for the operator."""


@dataclass(frozen=True, slots=True)
class Roster:
    """Who is told, level by level: e-mail addresses in escalation order, one optional webhook.

    ``escalate_after``: how long an alert may wait unacknowledged before the next level;
    ``retry_after``: the wait before a notification that failed is tried again; ``max_tries``.
    """

    contacts: tuple[str, ...]
    escalate_after: timedelta = timedelta(minutes=10)
    webhook_url: str = ""
    retry_after: timedelta = timedelta(seconds=30)
    max_tries: int = 10
    levels: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        for address in self.contacts:
            if not _EMAIL.match(address):
                raise RosterRefused(f"{address!r} is not an e-mail address (TARCZA_DUTY_CONTACTS)")
        if self.escalate_after <= timedelta(0):
            raise RosterRefused("TARCZA_DUTY_ESCALATE_MINUTES must be more than 0")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise RosterRefused("TARCZA_DUTY_WEBHOOK_URL must be an http(s):// URL")
        if self.max_tries < 1:
            raise RosterRefused("a notification is tried at least once")
        object.__setattr__(self, "levels", len(self.contacts))

    def contact(self, level: int) -> str | None:
        """The e-mail address of ``level`` (0: the first contact); None past the last."""
        return self.contacts[level] if 0 <= level < len(self.contacts) else None

    def next_escalation(self, level: int, now: datetime) -> datetime | None:
        """When an alert notified at ``level`` escalates if no one acknowledges it (None: never)."""
        return now + self.escalate_after if level + 1 < len(self.contacts) else None

    def next_try(self, tries: int, now: datetime) -> datetime | None:
        """When a failed notification is tried again after ``tries`` (None: failed for good)."""
        return now + self.retry_after if tries < self.max_tries else None


def staff_link(base_url: str, reference: str) -> str:
    """The staff page of a report: what a notification links to (sign-in needed)."""
    return f"{base_url.rstrip('/')}/staff/reports/{reference}"


def notification_text(
    reference: str, link: str, level: int, raised_at: datetime, language: str = "pl"
) -> tuple[str, str]:
    """The subject and body of a duty notification: reference, link, time — never content."""
    when = raised_at.strftime("%Y-%m-%d %H:%M UTC")
    if language == "en":
        subject = f"[tarcza] Child in danger now: {reference}"
        escalated = (
            f"Escalated (level {level + 1}): no one has acknowledged it yet.\n" if level else ""
        )
        body = (
            f"A report of a child in danger now was referred to the duty desk at {when}.\n"
            f"{escalated}"
            f"Reference: {reference}\nOpen and acknowledge it: {link}\n\n"
            "This message carries no content of the report: sign in to read it.\n"
        )
        return subject, body
    subject = f"[tarcza] Dziecko w bezpośrednim niebezpieczeństwie: {reference}"
    escalated = (
        f"Eskalacja (poziom {level + 1}): nikt jeszcze nie potwierdził odbioru.\n" if level else ""
    )
    body = (
        f"Zgłoszenie o dziecku w bezpośrednim niebezpieczeństwie przekazano dyżurowi o {when}.\n"
        f"{escalated}"
        f"Numer zgłoszenia: {reference}\nOtwórz i potwierdź odbiór: {link}\n\n"
        "Ta wiadomość nie zawiera treści zgłoszenia: zaloguj się, aby je przeczytać.\n"
        "\n-- \n"
        f"A child in danger now: report {reference}, {link}\n"
    )
    return subject, body


def webhook_body(
    reference: str, link: str, level: int, raised_at: datetime, alert_id: int
) -> bytes:
    """The webhook's JSON body: the same facts as the e-mail, nothing of the report's content."""
    return json.dumps(
        {
            "event": "child_in_danger",
            "alert": alert_id,
            "reference": reference,
            "link": link,
            "level": level + 1,
            "raised_at": raised_at.isoformat(),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the webhook's body with the shared secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
