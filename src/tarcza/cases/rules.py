"""Casework rules — pure: no web, database or network imports.

How a report's status may move, what a referral's states are, what a reason
must be, and what the public status page says about each status.
"""

from __future__ import annotations

from enum import StrEnum

from tarcza.intake.rules import RuleViolation, Status, clean_text

MAX_REASON = 1000


class ReferralState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


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
