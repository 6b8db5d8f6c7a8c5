"""The MNR tracker's rules — pure: no web, database or network imports.

The WeProtect Global Alliance Model National Response (MNR) names 21 capabilities in 6
domains. For each the tracker keeps a maturity phase with its evidence, the institutions
responsible, and actions with an owner, a due date and a state. Here: what a valid value is,
who may change what, when an action is overdue, what changed between two versions of a
record (its history), which live indicators are bound to which capability, and how a small
count is suppressed before anyone sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum

from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.intake.rules import RuleViolation, clean_text

MAX_NAME = 200
MAX_EVIDENCE = 4000
MAX_TITLE = 300
MAX_INSTITUTION = 120
MAX_RESPONSIBLE = 12  # agencies, and institutions outside tarcza, each
NUMBERS = range(1, 22)  # the MNR's 21 capabilities
# Counts below this are shown as "<5" (aggregates only: no small count can point at a child).
SMALL_COUNT = 5
# Dates an action may be due on: anything else is a typing slip.
FIRST_DUE, LAST_DUE = date(2000, 1, 1), date(2100, 12, 31)


class Phase(IntEnum):
    """The maturity phase a capability has reached, with the evidence for it."""

    BUILDING = 1  # being set up: no working capability yet
    DEVELOPING = 2  # working in part, or not yet everywhere
    ESTABLISHED = 3  # working nationally, sustained by law or funding
    MATURE = 4  # working, measured, reviewed and improved


class ActionState(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"  # given up, with the history saying when and by whom


# An action still to do: the only ones that can be overdue.
OPEN_STATES = frozenset({ActionState.PLANNED, ActionState.IN_PROGRESS})


class MnrRuleViolation(ValueError):
    """A value breaks a tracker rule: ``field`` names it, ``code`` says why (stable)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


# -- values -----------------------------------------------------------------------------------


def check_text(field: str, raw: object, limit: int, *, multiline: bool = False) -> str:
    """Required free text, trimmed, without control characters, at most ``limit`` long."""
    if not isinstance(raw, str) or not raw.strip():
        raise MnrRuleViolation(field, "required", "This is required.")
    if len(raw.strip()) > limit:
        raise MnrRuleViolation(field, "too_long", f"At most {limit} characters.")
    try:
        return clean_text(field, raw, limit, multiline=multiline)
    except RuleViolation as exc:
        raise MnrRuleViolation(field, exc.code, exc.message) from exc


def check_evidence(raw: object) -> str:
    return check_text("evidence", raw, MAX_EVIDENCE, multiline=True)


def check_phase(raw: object) -> Phase:
    try:
        return Phase(int(str(raw)))
    except ValueError:
        raise MnrRuleViolation("phase", "unknown", "A phase from 1 to 4.") from None


def check_state(raw: object) -> ActionState:
    try:
        return ActionState(str(raw))
    except ValueError:
        raise MnrRuleViolation("state", "unknown", "Choose one of the options.") from None


def check_due(raw: object) -> date:
    """A day (a date or ``YYYY-MM-DD``) between 2000 and 2100."""
    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = date.fromisoformat(str(raw).strip())
        except ValueError:
            raise MnrRuleViolation("due", "not_a_date", "Give a date (YYYY-MM-DD).") from None
    if not FIRST_DUE <= day <= LAST_DUE:
        raise MnrRuleViolation("due", "out_of_range", "A date between 2000 and 2100.")
    return day


def check_agencies(raw: Iterable[object], known: Iterable[str]) -> tuple[str, ...]:
    """Agency codes of tarcza, each once, sorted; an unknown code is refused."""
    allowed = set(known)
    codes: list[str] = []
    for value in raw:
        code = str(value).strip()
        if code not in allowed:
            raise MnrRuleViolation("agencies", "unknown_agency", "Not an agency of tarcza.")
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_RESPONSIBLE:
        raise MnrRuleViolation("agencies", "too_many", f"At most {MAX_RESPONSIBLE}.")
    return tuple(sorted(codes))


def check_institutions(raw: Iterable[object]) -> tuple[str, ...]:
    """Names of institutions outside tarcza, each once, in the order given."""
    names: list[str] = []
    for value in raw:
        name = check_text("institutions", value, MAX_INSTITUTION)
        if name not in names:
            names.append(name)
    if len(names) > MAX_RESPONSIBLE:
        raise MnrRuleViolation("institutions", "too_many", f"At most {MAX_RESPONSIBLE}.")
    return tuple(names)


def check_owner(raw: object, responsible: Iterable[str]) -> str:
    """An action's owner: one of the capability's responsible institutions (code or name)."""
    owner = check_text("owner", raw, MAX_INSTITUTION)
    if owner not in set(responsible):
        raise MnrRuleViolation(
            "owner", "not_responsible", "Choose an institution responsible for the capability."
        )
    return owner


def is_overdue(due: date, state: ActionState | str, today: date) -> bool:
    """Past its due day and neither done nor dropped."""
    return ActionState(state) in OPEN_STATES and due < today


# -- who may do what --------------------------------------------------------------------------


def relation_of(agencies: Iterable[str], agency: str) -> Relation:
    """A capability is "own" to the agencies responsible for it, and to nobody else."""
    return Relation.OWN if agency in set(agencies) else Relation.OTHER


def may_read(principal: Principal) -> bool:
    """The tracker is the programme's: its agencies' staff read all of it (own scope)."""
    return permits(principal, Action.MNR_TRACKER_READ, Relation.OWN)


def may_manage(principal: Principal) -> bool:
    """The coordinator edits every capability: names, phases, responsibility, and the rest."""
    return permits(principal, Action.MNR_TRACKER_MANAGE, Relation.OWN)


def may_update(principal: Principal, agencies: Iterable[str]) -> bool:
    """Evidence and actions: an institution responsible for the capability, or the coordinator."""
    relation = relation_of(agencies, principal.agency)
    return may_manage(principal) or permits(principal, Action.MNR_PROGRESS_UPDATE, relation)


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field of a capability (or of one of its actions) changed: from what, to what."""

    field: str
    old: str | None
    new: str | None
    action_id: int | None = None


def changes(
    before: Mapping[str, str | None], after: Mapping[str, str | None], action_id: int | None = None
) -> list[Change]:
    """The fields of ``after`` whose value differs from ``before``'s, in ``after``'s order."""
    return [
        Change(name, before.get(name), value, action_id)
        for name, value in after.items()
        if before.get(name) != value
    ]


# -- live indicators --------------------------------------------------------------------------


class Unit(StrEnum):
    COUNT = "count"
    HOURS = "hours"
    SHARE = "share"  # 0..1


@dataclass(frozen=True)
class Indicator:
    """A figure tarcza holds, bound to one capability.

    ``suppress``: a count of events about people (reports, contacts, referrals) — below
    SMALL_COUNT it is shown as "<5", and a time or share computed from fewer is not shown.
    """

    key: str
    capability: int
    unit: Unit
    suppress: bool = True


INDICATORS = (
    Indicator("police.referrals", 4, Unit.COUNT),
    Indicator("police.acknowledged", 4, Unit.COUNT),
    Indicator("police.hours_to_acknowledge", 4, Unit.HOURS),
    Indicator("police.outcomes", 4, Unit.COUNT),
    Indicator("banks.signals", 7, Unit.COUNT, suppress=False),  # hashes, not people
    Indicator("banks.evidence_matches", 7, Unit.COUNT),
    Indicator("helpline.contacts", 11, Unit.COUNT),
    Indicator("helpline.cases_opened", 11, Unit.COUNT),
    Indicator("hotline.reports", 12, Unit.COUNT),
    Indicator("hotline.items_assessed", 12, Unit.COUNT),
    Indicator("hotline.items_removed", 12, Unit.COUNT),
    Indicator("takedown.hours_to_removal", 16, Unit.HOURS),
    Indicator("takedown.removed_within_3_days", 16, Unit.SHARE),
    Indicator("industry.partner_reports", 17, Unit.COUNT),
    Indicator("industry.partner_feedback", 17, Unit.COUNT),
)
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}


def indicators_of(number: int) -> tuple[Indicator, ...]:
    """The live indicators bound to capability ``number`` (none: self-assessed only)."""
    return tuple(i for i in INDICATORS if i.capability == number)


@dataclass(frozen=True)
class Measure:
    """What a provider computed: the value, and how many records it rests on."""

    value: float | None
    basis: int


@dataclass(frozen=True)
class Shown:
    """A figure as people see it: ``value`` None when there is none or it is suppressed."""

    key: str
    unit: Unit
    value: float | None
    suppressed: bool


def show(indicator: Indicator, measure: Measure | None, threshold: int = SMALL_COUNT) -> Shown:
    """The figure with small counts suppressed (a time or a share resting on few, too)."""
    if measure is None or measure.value is None:
        return Shown(indicator.key, indicator.unit, None, False)
    small = indicator.suppress and 0 < measure.basis < threshold
    if small:
        return Shown(indicator.key, indicator.unit, None, True)
    return Shown(indicator.key, indicator.unit, measure.value, False)


# A count that is part of another one shown beside it: if the difference were small, the
# reader could recover it (e.g. referrals not yet acknowledged = referrals - acknowledged).
PARTS = {"police.acknowledged": "police.referrals"}


def protect_differences(shown: dict[str, Shown], threshold: int = SMALL_COUNT) -> dict[str, Shown]:
    """Secondary suppression: a part whose whole differs from it by a small count is hidden."""
    out = dict(shown)
    for part_key, whole_key in PARTS.items():
        part, whole = out.get(part_key), out.get(whole_key)
        if part is None or whole is None or part.value is None or whole.value is None:
            continue
        if 0 < whole.value - part.value < threshold:
            out[part_key] = Shown(part.key, part.unit, None, True)
    return out
