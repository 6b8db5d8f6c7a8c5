"""Casework rules — pure: no web, database or network imports.

How a report's status may move, what a referral's states are, what a reason
must be, and what the public status page says about each status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tarcza.intake.rules import RuleViolation, Status, clean_text

MAX_REASON = 1000


class ReferralState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    # Ended by the referring side, or because the access it was made from ended.
    WITHDRAWN = "withdrawn"


# Referrals that give the receiving agency access to the report.
OPEN_REFERRAL_STATES = (ReferralState.PENDING.value, ReferralState.ACCEPTED.value)

# Where a status may go next (a closed report may be reopened for assessment).
NEXT_STATUS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.IN_ASSESSMENT, Status.CLOSED}),
    Status.IN_ASSESSMENT: frozenset({Status.FORWARDED, Status.CLOSED}),
    Status.FORWARDED: frozenset({Status.IN_ASSESSMENT, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.IN_ASSESSMENT}),
}


class CaseRuleViolation(ValueError):
    """A value breaks a casework rule: ``field`` names it, ``code`` says why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


def check_reason(raw: str | None) -> str:
    """A reason is required, printable, at most 1,000 characters."""
    text = (raw or "").strip()
    if not text:
        raise CaseRuleViolation("reason", "required", "Give a reason.")
    if len(text) > MAX_REASON:
        raise CaseRuleViolation("reason", "too_long", f"At most {MAX_REASON} characters.")
    if text.startswith(SYSTEM_REASON_PREFIX):
        # Kept for reasons the system writes, so no typed reason can pass for one.
        raise CaseRuleViolation("reason", "reserved", "A reason may not start with 'auto:'.")
    try:
        return clean_text("reason", text, MAX_REASON, multiline=True)
    except RuleViolation as exc:
        raise CaseRuleViolation("reason", exc.code, exc.message) from exc


def check_transition(current: Status, wanted: Status) -> None:
    """Refuse a status change the workflow does not allow."""
    if wanted not in NEXT_STATUS[current]:
        raise CaseRuleViolation(
            "status", "not_allowed", f"A {current.value} report cannot become {wanted.value}."
        )


def status_after_acceptance(current: Status) -> Status:
    """Accepting a referral forwards the report (a closed one stays closed)."""
    return current if current is Status.CLOSED else Status.FORWARDED


# -- reasons the system writes ------------------------------------------------------------------
# A reason written by the software (not typed by a person) is stored as a code with parameters,
# ``auto:<kind> key=value ...``, and turned into a sentence in the reader's language where it is
# shown (cases.pages). Free text typed by staff is stored and shown as typed.

SYSTEM_REASON_PREFIX = "auto:"
HOTLINE_POLICE = "hotline-police"  # the hotline's rules referred the report to the police
DANGER_POLICE = "danger-police"  # a child in danger now: the danger rules referred it at once
_PARAM_VALUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What the hotline wrote before reasons were codes (rows from before 0007 hold this).
_LEGACY_HOTLINE_POLICE = re.compile(
    r"Content item (?P<item>\d+) \(.*\) assessed as (?P<classification>[a-z_]+)"
    r"(?:, hosted in (?P<country>[A-Z]{2}))?\.",
    re.DOTALL,
)


@dataclass(frozen=True)
class SystemReason:
    """A reason the system wrote: what kind, and the facts a sentence needs."""

    kind: str
    params: dict[str, str]


def system_reason(kind: str, **params: str | int | None) -> str:
    """The stored form of a system-written reason, e.g. ``auto:hotline-police item=7``.

    Parameters that are None are left out; values must be short words (no spaces).
    """
    parts = [f"{SYSTEM_REASON_PREFIX}{kind}"]
    for key, value in params.items():
        if value is None:
            continue
        if not _PARAM_VALUE.fullmatch(str(value)):
            raise ValueError(f"system reason parameter {key}={value!r} is not a short word")
        parts.append(f"{key}={value}")
    return " ".join(parts)


def parse_system_reason(text: str | None) -> SystemReason | None:
    """The system reason stored in ``text``, or None when a person typed it."""
    if not text:
        return None
    legacy = _LEGACY_HOTLINE_POLICE.fullmatch(text)
    if legacy:
        found = {k: v for k, v in legacy.groupdict().items() if v is not None}
        return SystemReason(HOTLINE_POLICE, found)
    if not text.startswith(SYSTEM_REASON_PREFIX):
        return None
    head, *rest = text.split(" ")
    params: dict[str, str] = {}
    for part in rest:
        key, sep, value = part.partition("=")
        if not sep or not key.isidentifier() or not _PARAM_VALUE.fullmatch(value):
            return None
        params[key] = value
    return SystemReason(head.removeprefix(SYSTEM_REASON_PREFIX), params)


# -- what the police made of a report --------------------------------------------------------


class OutcomeKind(StrEnum):
    """An outcome the police records on a report referred to it."""

    INVESTIGATION_OPENED = "investigation_opened"
    VICTIM_IDENTIFIED = "victim_identified"
    SUSPECT_IDENTIFIED = "suspect_identified"
    NO_ACTION = "no_action"


def check_outcome(raw: str | None, reason: str | None) -> tuple[OutcomeKind, str | None]:
    """The outcome and its reason: "no action" needs one; the others may carry a note."""
    try:
        kind = OutcomeKind(raw or "")
    except ValueError:
        raise CaseRuleViolation("outcome", "unknown", "Choose one of the outcomes.") from None
    if kind is OutcomeKind.NO_ACTION or (reason or "").strip():
        return kind, check_reason(reason)
    return kind, None


# -- the evidence package ----------------------------------------------------------------------

MAX_CASE_NUMBER = 64
_CASE_NUMBER = re.compile(r"[0-9A-Za-z][0-9A-Za-z ./_-]*")


def check_case_number(raw: str | None) -> str:
    """The police case number the package is made for: letters, digits, ``. / _ -`` and spaces."""
    text = (raw or "").strip()
    if not text:
        raise CaseRuleViolation("case_number", "required", "Give the case number.")
    if len(text) > MAX_CASE_NUMBER:
        raise CaseRuleViolation("case_number", "too_long", f"At most {MAX_CASE_NUMBER} characters.")
    if not _CASE_NUMBER.fullmatch(text):
        raise CaseRuleViolation(
            "case_number",
            "invalid_character",
            "Use letters, digits, spaces and . / _ - only.",
        )
    return text
