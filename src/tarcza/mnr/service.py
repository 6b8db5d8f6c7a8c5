"""The MNR tracker's operations: read the 21 capabilities, update evidence and actions.

Every method takes the signed-in :class:`Principal` and asks the rules (``mnr.rules``, over
accounts.permissions): the programme's staff read everything; the institutions responsible
for a capability update its evidence and actions; the coordinator edits all of it. Every
change is kept field by field in the history (who, when, from, to) and audited. The live
indicators come from a provider the composition root wires in; small counts are suppressed.
The capabilities are seeded from the shipped catalogue on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency
from tarcza.accounts.permissions import AgencyKind, Principal
from tarcza.audit import service as audit
from tarcza.coordination.tracker import Tracker
from tarcza.errors import Denied, NotFound, Refused
from tarcza.mnr import reading, report_feed, rules
from tarcza.mnr.catalogue import load_catalogue
from tarcza.mnr.models import MnrAction, MnrCapability, MnrChange, MnrDomain
from tarcza.mnr.views import (
    ActionChange,
    ActionView,
    CapabilityChange,
    CapabilityView,
    DomainChange,
    DomainView,
    NewAction,
)
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

Provider = Callable[[datetime], Mapping[str, rules.Measure]]


class MnrNotFound(NotFound):
    """No such capability, action or domain."""


class MnrDenied(Denied):
    """The person reads the tracker but may not change this (403)."""

    detail = "Your agency is not responsible for this capability, or your role may not do this."


class MnrRefused(Refused):
    """A value breaks a tracker rule: ``field`` and ``code`` say which and why (422)."""


def _valid_id(value: int) -> bool:
    return 1 <= value < 2**63


class MnrService:
    """The tracker; collaborators (the database, the indicator provider, the clock) passed in."""

    def __init__(
        self,
        db: Database,
        *,
        indicators: Provider | None = None,
        agency_codes: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        cache_seconds: int = 60,
        small_count: int = rules.SMALL_COUNT,
    ) -> None:
        self._db = db
        self._provider = indicators
        self._codes = dict(agency_codes or {})
        self._clock = clock
        self._cache_for = timedelta(seconds=cache_seconds)
        self._cached: tuple[datetime, dict[str, rules.Shown]] | None = None
        self._small = small_count

    # -- access and the record of changes ---------------------------------------------------

    def _read(self, principal: Principal) -> None:
        if not rules.may_read(principal):
            raise MnrDenied()
        reading.seed(self._db, load_catalogue(self._codes), self._clock())

    @staticmethod
    def _row(session: Session, number: int) -> MnrCapability:
        row = session.get(MnrCapability, number) if number in rules.NUMBERS else None
        if row is None:
            raise MnrNotFound()
        return row

    @staticmethod
    def _record(
        session: Session,
        principal: Principal,
        number: int,
        found: list[rules.Change],
        event: str,
        now: datetime,
    ) -> None:
        """Keep each change in the history, and one audit entry naming the fields."""
        for change in found:
            session.add(
                MnrChange(
                    capability=number,
                    action_id=change.action_id,
                    field=change.field,
                    old=change.old,
                    new=change.new,
                    changed_by=principal.username,
                    agency=principal.agency,
                    changed_at=now,
                )
            )
        session.flush()
        audit.append(
            session,
            actor=principal.username,
            agency=principal.agency,
            action=event,
            subject_type="mnr_capability",
            subject_id=str(number),
            now=now,
            details={
                "fields": [c.field for c in found],
                "action_id": found[0].action_id if found else None,
            },
        )

    # -- the live indicators ----------------------------------------------------------------

    def live(self) -> dict[str, rules.Shown]:
        """Every indicator as shown (small counts suppressed); recomputed once a minute."""
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_for:
            return self._cached[1]
        measures = self._provider(now) if self._provider is not None else {}
        shown = rules.protect_differences(
            {i.key: rules.show(i, measures.get(i.key), self._small) for i in rules.INDICATORS},
            self._small,
        )
        self._cached = (now, shown)
        return shown

    # -- reading ----------------------------------------------------------------------------

    def for_report(self, since: date, until: date, today: date) -> Tracker:
        """The tracker for the coordinator's monthly report (its service checks who asks)."""
        reading.seed(self._db, load_catalogue(self._codes), self._clock())
        with self._db.reading() as session:
            return report_feed.tracker(session, since, until, today)

    def overview(self, principal: Principal) -> list[DomainView]:
        """The six domains with their capabilities, phases, action counts and indicators."""
        self._read(principal)
        live = self.live()
        today = self._clock().date()
        with self._db.reading() as session:
            counts = reading.action_counts(session, today)
            domains = session.scalars(select(MnrDomain).order_by(MnrDomain.position)).all()
            rows = session.scalars(select(MnrCapability).order_by(MnrCapability.number)).all()
            return [
                DomainView(
                    d.code,
                    d.position,
                    d.name_pl,
                    d.name_en,
                    [reading.summary(r, counts, live) for r in rows if r.domain == d.code],
                )
                for d in domains
            ]

    def capability(self, principal: Principal, number: int) -> CapabilityView:
        """One capability: evidence, actions, history, and what this person may change."""
        self._read(principal)
        live = self.live()
        with self._db.reading() as session:
            row = self._row(session, number)
            return reading.full_view(session, principal, row, live, self._clock().date())

    def agencies(self) -> list[tuple[str, str]]:
        """The agencies that may be responsible for a capability: (code, name), by name."""
        with self._db.reading() as session:
            rows = session.execute(
                select(Agency.code, Agency.name)
                .where(Agency.kind != AgencyKind.PLATFORM.value)
                .order_by(Agency.name)
            ).all()
            return [(code, name) for code, name in rows]

    # -- changing a capability ----------------------------------------------------------------

    def update(self, principal: Principal, number: int, change: CapabilityChange) -> CapabilityView:
        """Change evidence (responsible institutions, coordinator) or the rest (coordinator)."""
        self._read(principal)
        now = self._clock()
        known = [code for code, _ in self.agencies()] if change.agencies is not None else []
        with self._db.transaction() as session:
            row = self._row(session, number)
            if change.manages and not rules.may_manage(principal):
                raise MnrDenied()
            if change.evidence is not None and not rules.may_update(
                principal, reading.agencies_of(row)
            ):
                raise MnrDenied()
            after = self._checked(change, known)
            before = {
                "evidence": row.evidence,
                "phase": str(row.phase),
                "name_pl": row.name_pl,
                "name_en": row.name_en,
                "agencies": row.agencies,
                "institutions": "; ".join(reading.institutions_of(row)),
            }
            found = rules.changes(before, after)
            if found:
                self._apply(row, change, after)
                row.updated_by, row.updated_at = principal.username, now
                self._record(session, principal, number, found, "mnr.capability_changed", now)
        return self.capability(principal, number)

    @staticmethod
    def _checked(change: CapabilityChange, known: list[str]) -> dict[str, str | None]:
        """The fields given, checked, as the history writes them."""
        try:
            after: dict[str, str | None] = {}
            if change.evidence is not None:
                after["evidence"] = rules.check_evidence(change.evidence)
            if change.phase is not None:
                after["phase"] = str(rules.check_phase(change.phase).value)
            if change.name_pl is not None:
                after["name_pl"] = rules.check_text("name_pl", change.name_pl, rules.MAX_NAME)
            if change.name_en is not None:
                after["name_en"] = rules.check_text("name_en", change.name_en, rules.MAX_NAME)
            if change.agencies is not None:
                after["agencies"] = " ".join(rules.check_agencies(change.agencies, known))
            if change.institutions is not None:
                after["institutions"] = "; ".join(rules.check_institutions(change.institutions))
        except rules.MnrRuleViolation as exc:
            raise MnrRefused(exc.field, exc.code, exc.message) from exc
        return after

    @staticmethod
    def _apply(row: MnrCapability, change: CapabilityChange, after: dict[str, str | None]) -> None:
        for name in ("evidence", "name_pl", "name_en", "agencies"):
            if name in after:
                setattr(row, name, after[name])
        if "phase" in after:
            row.phase = int(str(after["phase"]))
        if change.institutions is not None:
            row.institutions = list(rules.check_institutions(change.institutions))

    # -- actions --------------------------------------------------------------------------------

    def add_action(self, principal: Principal, number: int, new: NewAction) -> ActionView:
        """A new action for the capability, owned by one of its responsible institutions."""
        self._read(principal)
        now = self._clock()
        with self._db.transaction() as session:
            row = self._row(session, number)
            if not rules.may_update(principal, reading.agencies_of(row)):
                raise MnrDenied()
            try:
                title = rules.check_text("title", new.title, rules.MAX_TITLE)
                owner = rules.check_owner(new.owner, reading.responsible(row))
                due = rules.check_due(new.due)
                state = rules.check_state(new.state)
            except rules.MnrRuleViolation as exc:
                raise MnrRefused(exc.field, exc.code, exc.message) from exc
            action = MnrAction(
                capability=number,
                title=title,
                owner=owner,
                due=due,
                state=state.value,
                created_by=principal.username,
                created_at=now,
                updated_at=now,
            )
            session.add(action)
            session.flush()
            after = {"title": title, "owner": owner, "due": due.isoformat(), "state": state.value}
            found = rules.changes({}, after, action.id)
            self._record(session, principal, number, found, "mnr.action_added", now)
            return reading.action_view(action, now.date())

    def change_action(
        self, principal: Principal, action_id: int, change: ActionChange
    ) -> ActionView:
        """Change an action's title, owner, due day or state (its history kept)."""
        self._read(principal)
        now = self._clock()
        with self._db.transaction() as session:
            action = session.get(MnrAction, action_id) if _valid_id(action_id) else None
            if action is None:
                raise MnrNotFound()
            row = self._row(session, action.capability)
            if not rules.may_update(principal, reading.agencies_of(row)):
                raise MnrDenied()
            before = {
                "title": action.title,
                "owner": action.owner,
                "due": action.due.isoformat(),
                "state": action.state,
            }
            try:
                after: dict[str, str | None] = {}
                if change.title is not None:
                    after["title"] = rules.check_text("title", change.title, rules.MAX_TITLE)
                if change.owner is not None and change.owner != action.owner:
                    after["owner"] = rules.check_owner(change.owner, reading.responsible(row))
                if change.due is not None:
                    after["due"] = rules.check_due(change.due).isoformat()
                if change.state is not None:
                    after["state"] = rules.check_state(change.state).value
            except rules.MnrRuleViolation as exc:
                raise MnrRefused(exc.field, exc.code, exc.message) from exc
            found = rules.changes(before, after, action.id)
            if found:
                for name, value in after.items():
                    setattr(action, name, rules.check_due(value) if name == "due" else value)
                action.updated_at = now
                self._record(session, principal, row.number, found, "mnr.action_changed", now)
            return reading.action_view(action, now.date())

    # -- domains ------------------------------------------------------------------------------

    def rename_domain(self, principal: Principal, code: str, change: DomainChange) -> DomainView:
        """The coordinator renames a domain (in Polish, in English, or both); audited."""
        self._read(principal)
        if not rules.may_manage(principal):
            raise MnrDenied()
        now = self._clock()
        with self._db.transaction() as session:
            domain = session.get(MnrDomain, code)
            if domain is None:
                raise MnrNotFound()
            try:
                after: dict[str, str | None] = {}
                if change.name_pl is not None:
                    after["name_pl"] = rules.check_text("name_pl", change.name_pl, rules.MAX_NAME)
                if change.name_en is not None:
                    after["name_en"] = rules.check_text("name_en", change.name_en, rules.MAX_NAME)
            except rules.MnrRuleViolation as exc:
                raise MnrRefused(exc.field, exc.code, exc.message) from exc
            before = {"name_pl": domain.name_pl, "name_en": domain.name_en}
            found = rules.changes(before, after)
            for c in found:
                setattr(domain, c.field, c.new)
            if found:
                audit.append(
                    session,
                    actor=principal.username,
                    agency=principal.agency,
                    action="mnr.domain_renamed",
                    subject_type="mnr_domain",
                    subject_id=code,
                    now=now,
                    details={"fields": [c.field for c in found], "new": dict(after)},
                )
            return DomainView(domain.code, domain.position, domain.name_pl, domain.name_en)
