"""What the tracker's service hands out and takes in: plain frozen dataclasses, never rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from tarcza.mnr.rules import ActionState, Phase, Shown


@dataclass(frozen=True)
class ActionView:
    id: int
    capability: int
    title: str
    owner: str
    due: date
    state: ActionState
    overdue: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChangeView:
    """One entry of a capability's history: which field, from what, to what, who, when."""

    field: str
    old: str | None
    new: str | None
    action_id: int | None
    changed_by: str
    agency: str
    changed_at: datetime


@dataclass(frozen=True)
class CapabilitySummary:
    number: int
    domain: str
    name_pl: str
    name_en: str
    phase: Phase
    agencies: tuple[str, ...]
    institutions: tuple[str, ...]
    open_actions: int
    overdue_actions: int
    # The live figures bound to it; none: the capability is self-assessed only.
    indicators: tuple[Shown, ...]
    updated_at: datetime

    @property
    def self_assessed(self) -> bool:
        return not self.indicators


@dataclass(frozen=True)
class CapabilityView:
    summary: CapabilitySummary
    description_pl: str
    description_en: str
    evidence: str
    updated_by: str | None
    actions: list[ActionView] = field(default_factory=list)
    history: list[ChangeView] = field(default_factory=list)
    may_update: bool = False  # evidence and actions
    may_manage: bool = False  # names, phase, who is responsible


@dataclass(frozen=True)
class DomainView:
    code: str
    position: int
    name_pl: str
    name_en: str
    capabilities: list[CapabilitySummary] = field(default_factory=list)


@dataclass(frozen=True)
class CapabilityChange:
    """What to change; None leaves a field as it is."""

    evidence: str | None = None
    phase: int | str | None = None
    name_pl: str | None = None
    name_en: str | None = None
    agencies: list[str] | None = None
    institutions: list[str] | None = None

    @property
    def manages(self) -> bool:
        """Whether it changes what only the coordinator changes."""
        return any(
            v is not None
            for v in (self.phase, self.name_pl, self.name_en, self.agencies, self.institutions)
        )


@dataclass(frozen=True)
class NewAction:
    title: str
    owner: str
    due: date | str
    state: str = ActionState.PLANNED.value


@dataclass(frozen=True)
class ActionChange:
    title: str | None = None
    owner: str | None = None
    due: date | str | None = None
    state: str | None = None


@dataclass(frozen=True)
class DomainChange:
    name_pl: str | None = None
    name_en: str | None = None
