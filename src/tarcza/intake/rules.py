"""Intake rules — pure: no web, database or network imports.

What a report may contain, how references and PINs look, which guidance fits
which category, and how a report is first prioritised.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Category(StrEnum):
    """What the report is about."""

    CSAM = "csam"
    SEXTORTION = "sextortion"
    GROOMING = "grooming"
    OTHER = "other"


class Status(StrEnum):
    """The public life of a report: all a reporter ever learns about it."""

    RECEIVED = "received"
    IN_ASSESSMENT = "in_assessment"
    FORWARDED = "forwarded"
    CLOSED = "closed"


class PublicStage(StrEnum):
    """What the reporter is told about the work on their report, in the order it usually goes.

    Deliberately coarse: never a detail of the content, where it is hosted, or which agency
    beyond "the police". ``Status`` stays the casework's own workflow; this is the public view.
    """

    RECEIVED = "received"
    IN_ASSESSMENT = "in_assessment"
    ACTION_TAKEN = "action_taken"  # a notice was sent or the report was passed on
    PASSED_TO_POLICE = "passed_to_police"
    CLOSED = "closed"
    CONTENT_REMOVED = "content_removed"  # ranks above CLOSED: the outcome worth telling


#: The order a stage only moves forward along (see :func:`combine_stage`).
PUBLIC_ORDER: tuple[PublicStage, ...] = tuple(PublicStage)


def N_(message: str) -> str:
    """Mark ``message`` as a catalog id (extracted by tools/messages.py); pure, no web import."""
    return message


#: (label, what happens next) message ids for each stage, in plain words a child understands.
PUBLIC_STAGE_TEXT: dict[PublicStage, tuple[str, str]] = {
    PublicStage.RECEIVED: (
        N_("Received"),
        N_(
            "Your report has arrived. A hotline analyst will look at it soon. "
            "You do not need to do anything more."
        ),
    ),
    PublicStage.IN_ASSESSMENT: (
        N_("Being assessed"),
        N_("A hotline analyst is looking at your report. This page will change when they act."),
    ),
    PublicStage.ACTION_TAKEN: (
        N_("Action taken"),
        N_(
            "We have acted on your report and told those who can remove the content or help. "
            "We keep following it until it is dealt with."
        ),
    ),
    PublicStage.PASSED_TO_POLICE: (
        N_("Passed to the police"),
        N_(
            "Your report has been passed to the police. If you left contact details, "
            "they may get in touch with you."
        ),
    ),
    PublicStage.CONTENT_REMOVED: (
        N_("Content removed"),
        N_(
            "What you reported is no longer online where you found it. "
            "Thank you for helping to keep children safe."
        ),
    ),
    PublicStage.CLOSED: (
        N_("Closed"),
        N_("Work on your report has finished. Thank you for reporting."),
    ),
}

#: The casework status each public stage reads as, for clients of the older ``status`` field.
LEGACY_STATUS: dict[PublicStage, Status] = {
    PublicStage.RECEIVED: Status.RECEIVED,
    PublicStage.IN_ASSESSMENT: Status.IN_ASSESSMENT,
    PublicStage.ACTION_TAKEN: Status.FORWARDED,
    PublicStage.PASSED_TO_POLICE: Status.FORWARDED,
    PublicStage.CONTENT_REMOVED: Status.FORWARDED,
    PublicStage.CLOSED: Status.CLOSED,
}

#: The public stage a casework status change tells the reporter about.
STAGE_OF_STATUS: dict[Status, PublicStage] = {
    Status.RECEIVED: PublicStage.RECEIVED,
    Status.IN_ASSESSMENT: PublicStage.IN_ASSESSMENT,
    Status.FORWARDED: PublicStage.ACTION_TAKEN,
    Status.CLOSED: PublicStage.CLOSED,
}


def combine_stage(current: PublicStage, event: PublicStage, *, reopen: bool = False) -> PublicStage:
    """The stage after ``event`` happened to a report at ``current``.

    Stages only move forward along PUBLIC_ORDER, so a late or repeated fact (a second item
    assessed after the content was removed) never takes news back. ``reopen`` is the one way
    back: casework reopening a closed report sets ``event`` as it is.
    """
    if reopen:
        return event
    return max(current, event, key=PUBLIC_ORDER.index)


def stage_event_of_status_change(before: Status, after: Status) -> tuple[PublicStage, bool]:
    """What a casework move from ``before`` to ``after`` tells the reporter: (stage, reopen).

    Reopening a closed report is the one change that may take the public stage back.
    """
    return STAGE_OF_STATUS[after], before is Status.CLOSED and after is not Status.CLOSED


class AgeRange(StrEnum):
    """The child's apparent age, when the reporter knows it."""

    UNDER_13 = "under_13"
    AGE_13_15 = "13_15"
    AGE_16_17 = "16_17"
    UNKNOWN = "unknown"


LANGUAGES = ("pl", "en")

MAX_DESCRIPTION = 20_000
MAX_URLS = 50
MAX_URL_LENGTH = 2048
MAX_USERNAMES = 50
MAX_USERNAME = 200
MAX_PLATFORM = 200
MAX_CONTACT_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 32

# Crockford's base32: no I, L, O, U — nothing to misread or mishear.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "TZ"
_REFERENCE_BODY = 8  # 40 bits of randomness
PIN_DIGITS = 6
_READ_ALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


class RuleViolation(ValueError):
    """A value breaks an intake rule: ``field`` names it, ``code`` says why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


def new_reference() -> str:
    """A fresh reference such as ``TZ-7K2M-9QXP`` (40 random bits)."""
    # One draw of 40 bits, a character per 5 (the alphabet has 32): the same references as a
    # ``secrets.choice`` per character, for one call to the system's random source, not eight.
    bits = secrets.randbits(5 * _REFERENCE_BODY)
    body = "".join(REFERENCE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(_REFERENCE_BODY))
    return f"{REFERENCE_PREFIX}-{body[:4]}-{body[4:]}"


def normalise_reference(raw: str) -> str | None:
    """The canonical reference for what a person typed, or None if it cannot be one.

    Case, spaces, hyphens and the prefix are optional; O, I and L are read as 0, 1, 1.
    """
    compact = "".join(ch for ch in raw.upper() if ch not in " -\t")
    if compact.startswith(REFERENCE_PREFIX) and len(compact) == _REFERENCE_BODY + 2:
        compact = compact[2:]
    compact = compact.translate(_READ_ALIKE)
    if len(compact) != _REFERENCE_BODY or any(ch not in REFERENCE_ALPHABET for ch in compact):
        return None
    return f"{REFERENCE_PREFIX}-{compact[:4]}-{compact[4:]}"


def new_pin() -> str:
    """A fresh numeric PIN, separate from the reference."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"  # one draw: every PIN as likely


def normalise_pin(raw: str) -> str | None:
    """The PIN's digits, or None if what was typed cannot be a PIN."""
    digits = "".join(ch for ch in raw if ch not in " -")
    if len(digits) != PIN_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def clean_text(field: str, value: str, max_length: int, *, multiline: bool = False) -> str:
    """Check free text: length, no control characters but newline and tab.

    CRLF is folded to LF (browsers send textareas that way); NUL, other control
    characters and lone surrogates are refused, since no database stores them.
    """
    if multiline:
        value = value.replace("\r\n", "\n")
    # Printable text (the commonest) has no control character nor surrogate: no walk, char by
    # char, through the Unicode database (isprintable is false for every category refused).
    for ch in "" if value.isprintable() else value:
        category = unicodedata.category(ch)
        if category == "Cs":
            raise RuleViolation(field, "invalid_character", "contains an invalid character")
        if category == "Cc" and not (multiline and ch in "\n\t"):
            raise RuleViolation(
                field, "control_character", f"contains a control character (U+{ord(ch):04X})"
            )
    stripped = value.strip()
    if len(stripped) > max_length:
        raise RuleViolation(field, "too_long", f"is longer than {max_length} characters")
    return stripped


def check_url(field: str, value: str) -> str:
    """An http(s) URL with a host, as typed (trimmed); anything else is refused."""
    url = clean_text(field, value, MAX_URL_LENGTH)
    if not url:
        raise RuleViolation(field, "empty", "is empty")
    if any(ch.isspace() for ch in url):
        raise RuleViolation(field, "invalid_url", "must not contain spaces")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError as exc:
        raise RuleViolation(field, "invalid_url", "is not a valid address") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise RuleViolation(field, "url_scheme", "must start with http:// or https://")
    if not host:
        raise RuleViolation(field, "invalid_url", "has no host name")
    if "[" in parts.netloc or "]" in parts.netloc:
        # urlsplit lets through brackets in the user name, text after the "]" and scope ids.
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        if "[" in userinfo or "]" in userinfo or not _IP_LITERAL.fullmatch(hostinfo):
            raise RuleViolation(field, "invalid_url", "has an invalid IPv6 address")
    return url


def _ipv6_pattern() -> str:
    """RFC 3986's IPv6address as a regex (no scope id); the same as ipaddress accepts."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"(?:{h16}:{h16}|{octet}\.{octet}\.{octet}\.{octet})"
    forms = [
        f"(?:{h16}:){{6}}{ls32}",
        f"::(?:{h16}:){{5}}{ls32}",
        f"(?:{h16})?::(?:{h16}:){{4}}{ls32}",
        f"(?:(?:{h16}:){{0,1}}{h16})?::(?:{h16}:){{3}}{ls32}",
        f"(?:(?:{h16}:){{0,2}}{h16})?::(?:{h16}:){{2}}{ls32}",
        f"(?:(?:{h16}:){{0,3}}{h16})?::{h16}:{ls32}",
        f"(?:(?:{h16}:){{0,4}}{h16})?::{ls32}",
        f"(?:(?:{h16}:){{0,5}}{h16})?::{h16}",
        f"(?:(?:{h16}:){{0,6}}{h16})?::",
    ]
    return "(?:" + "|".join(forms) + ")"


#: An IPv6 address as a URL may hold it in brackets (published in the OpenAPI document too).
IPV6_PATTERN = _ipv6_pattern()
_IP_LITERAL = re.compile(rf"\[{IPV6_PATTERN}\](?::[0-9]*)?")


def check_email(field: str, value: str) -> str:
    """A plausible e-mail address (one @, a dot in the domain, no spaces)."""
    email = clean_text(field, value, MAX_EMAIL)
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(ch.isspace() for ch in email):
        raise RuleViolation(field, "invalid_email", "is not an e-mail address")
    return email


def check_phone(field: str, value: str) -> str:
    """A phone number: digits with optional +, spaces, hyphens and brackets."""
    phone = clean_text(field, value, MAX_PHONE)
    if (
        not phone
        or any(ch not in "0123456789+ -()" for ch in phone)
        or not any(ch.isdigit() for ch in phone)
    ):
        raise RuleViolation(field, "invalid_phone", "is not a phone number")
    return phone


def initial_priority(*, child_in_danger: bool, category: Category) -> int:
    """Higher is more urgent: a child in danger now outranks everything."""
    if child_in_danger:
        return 100
    if category in (Category.SEXTORTION, Category.GROOMING):
        return 50
    return 10


#: A file already in a hash bank is known material: it outranks every report without a match,
#: but never a child in danger now (100).
BANK_MATCH_PRIORITY = 80


def priority_after_match(priority: int, *, matched: bool) -> int:
    """The priority once the evidence has been matched against the hash banks."""
    return max(priority, BANK_MATCH_PRIORITY) if matched else priority


@dataclass(frozen=True)
class Guidance:
    """Which advice items (message ids in the catalog) fit a report."""

    items: tuple[str, ...]


_COMMON_GUIDANCE = ("keep_evidence", "trusted_adult")
_GUIDANCE: dict[Category, tuple[str, ...]] = {
    Category.SEXTORTION: (
        "not_to_blame",
        "do_not_pay",
        "do_not_send_more",
        "stop_contact_keep_conversation",
        "keep_evidence",
        "report_account",
        "trusted_adult",
        "report_police",
    ),
    Category.GROOMING: (
        "not_to_blame",
        "stop_contact_keep_conversation",
        "keep_evidence",
        "report_account",
        "trusted_adult",
        "report_police",
    ),
    Category.CSAM: ("do_not_share", "do_not_download", "we_assess"),
    Category.OTHER: _COMMON_GUIDANCE,
}


def guidance_for(category: Category) -> Guidance:
    """The advice shown after a report of ``category``."""
    return Guidance(items=_GUIDANCE[category])


def client_network(address: str) -> str:
    """The network a client's address stands for when counting its reports.

    An IPv4 address is itself; an IPv6 address counts as its /64, which one household or phone
    usually holds whole (counting single IPv6 addresses would let one client rotate through
    billions). An IPv4-mapped IPv6 address is its IPv4 address. Anything unparsable (a test
    client, a socket path) is kept as it came, trimmed.
    """
    try:
        ip = ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return address.strip()[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
