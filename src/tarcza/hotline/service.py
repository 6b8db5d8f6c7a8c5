"""The hotline analyst's work on content items: read, assess, trace, act, and the figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action as Permission
from tarcza.accounts.permissions import AgencyKind, Principal, Relation, permits
from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.errors import Denied, NotFound, Refused
from tarcza.hotline import actions as planning
from tarcza.hotline import confirmed, rules, schedule, stats, views
from tarcza.hotline.deployment import Deployment
from tarcza.hotline.models import (
    ContentItem,
    ItemAction,
    ItemAssessment,
    ItemReport,
    ItemTrace,
)
from tarcza.hotline.rules import ItemState
from tarcza.hotline.trace import AddressResolver, Geo, Trace, trace_host
from tarcza.hotline.views import ItemRow, ItemView
from tarcza.intake.progress import advance_public_stage
from tarcza.intake.rules import PublicStage
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

OPEN = ItemState.OPEN.value
REMOVED = ItemState.REMOVED.value
FINAL = "final"
PENDING_REVIEW = "pending_review"
E = TypeVar("E", bound=StrEnum)


# --- the analyst's work on content items -----------------------------------------------------


class ItemNotFound(NotFound):
    """No such content item — or none this person may see (the same answer: 404)."""


class ItemRefused(Refused):
    """An assessment that breaks a rule: ``field`` and ``code`` say which and why (422)."""


class ItemDenied(Denied):
    """The person sees the item but may not do this to it (403)."""


class HotlineService:
    """The hotline analyst's work on content items: read, assess, trace, act."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        deployment: Deployment,
        resolver: AddressResolver,
        geo: Geo,
        *,
        clock: Callable[[], datetime] = utcnow,
        after_actions: Callable[[], None] | None = None,
        confirmed_bank: str = "",
    ) -> None:
        self._db = db
        # Where the hashes of evidence the hotline confirms illegal go ("" = nowhere).
        self._confirmed_bank = confirmed_bank
        self._keys = keyring
        self._deployment = deployment
        self._resolver = resolver
        self._geo = geo
        self._clock = clock
        # Called after an assessment that queued notices commits (the app enqueues the job).
        self._after_actions = after_actions

    def confirm_evidence(
        self, principal: Principal, evidence_id: int, classification: str
    ) -> tuple[str, int]:
        """Confirm an evidence file illegal: its hashes join the confirmed bank (see confirmed)."""
        with self._db.transaction() as session:
            return confirmed.confirm_evidence(
                session,
                principal,
                evidence_id,
                classification,
                bank=self._confirmed_bank,
                hotline_agency=self._deployment.hotline_agency,
                now=self._clock(),
            )

    # -- access ---------------------------------------------------------------------

    def _check(self, principal: Principal, permission: Permission) -> None:
        """Items are the hotline's: others do not see them (404); seeing is not acting (403)."""
        relation = (
            Relation.OWN if principal.agency == self._deployment.hotline_agency else Relation.OTHER
        )
        if not permits(principal, Permission.HOTLINE_ITEM_READ, relation):
            raise ItemNotFound()
        if not permits(principal, permission, relation):
            raise ItemDenied()

    # -- reading --------------------------------------------------------------------

    def items(
        self, principal: Principal, state: ItemState | None = None, limit: int = 200
    ) -> list[ItemRow]:
        """Content items, oldest waiting first; ``state`` narrows the list."""
        self._check(principal, Permission.HOTLINE_ITEM_READ)
        counts = (
            select(ItemReport.item_id, func.count(func.distinct(ItemReport.report_id)).label("n"))
            .group_by(ItemReport.item_id)
            .subquery()
        )
        query = select(ContentItem, counts.c.n).join(counts, counts.c.item_id == ContentItem.id)
        if state is not None:
            query = query.where(ContentItem.state == state.value)
        query = query.order_by(ContentItem.first_reported_at, ContentItem.id).limit(limit)
        with self._db.transaction() as session:
            return [
                ItemRow(
                    item.id,
                    item.url,
                    item.host,
                    item.state,
                    item.classification,
                    int(n),
                    item.first_reported_at,
                )
                for item, n in session.execute(query).all()
            ]

    def item(self, principal: Principal, item_id: int) -> ItemView:
        """One content item with its reports, assessments, traces, actions and checks."""
        self._check(principal, Permission.HOTLINE_ITEM_READ)
        with self._db.transaction() as session:
            item = session.get(ContentItem, item_id) if 0 < item_id < 2**62 else None
            if item is None:
                raise ItemNotFound()
            assessments = views.assessments(session, item.id)
            pending = next((a for a in assessments if a.state == PENDING_REVIEW), None)
            return ItemView(
                id=item.id,
                url=item.url,
                host=item.host,
                state=item.state,
                classification=item.classification,
                first_reported_at=item.first_reported_at,
                assessed_at=item.assessed_at,
                noticed_at=item.noticed_at,
                removed_at=item.removed_at,
                next_check_at=item.next_check_at,
                reports=views.reports(session, item.id),
                bank_hints=views.bank_hints(session, item.id),
                assessments=assessments,
                traces=views.traces(session, item.id),
                actions=views.actions(session, item.id),
                checks=views.checks(session, item.id),
                pending_review_by=pending.username if pending else None,
            )

    def figures(
        self, principal: Principal, start: str | None, end: str | None
    ) -> stats.HotlineFigures:
        """The hotline's removal figures: for its own supervisors and for coordinators.

        Raises :class:`stats.PeriodRefused` for a bad period; anyone else gets 404.
        """
        own = (
            principal.agency == self._deployment.hotline_agency
            or principal.agency_kind is AgencyKind.COORDINATOR
        )
        relation = Relation.OWN if own else Relation.OTHER
        if not permits(principal, Permission.HOTLINE_STATS_READ, relation):
            raise ItemNotFound()
        period = stats.period_of(start, end, self._clock().date())
        with self._db.transaction() as session:
            return stats.hotline_figures(session, period, self._deployment.hotline_agency)

    # -- assessing ------------------------------------------------------------------

    def assess(self, principal: Principal, item_id: int, form: Mapping[str, str]) -> ItemState:
        """Record an assessment; trace the host and take the actions the rules decide.

        Returns the item's new state. The trace runs before the transaction (it waits on
        DNS); the assessment, trace, actions, referrals and audit entry commit together.
        """
        self._check(principal, Permission.HOTLINE_ITEM_ASSESS)
        assessment = _checked(form)
        with self._db.transaction() as session:
            found = session.get(ContentItem, item_id) if 0 < item_id < 2**62 else None
            if found is None:
                raise ItemNotFound()
            host = found.host
        trace = self.trace(host) if assessment.illegal else None
        now = self._clock()
        with self._db.transaction() as session:
            item = session.get(ContentItem, item_id, with_for_update=True)
            if item is None:
                raise ItemNotFound()
            state = self._record(session, principal, item, assessment, trace, now)
        if state is ItemState.ACTIONED and self._after_actions is not None:
            # After the commit: a job may only see committed notices.
            self._after_actions()
        return state

    def trace(self, host: str) -> Trace:
        """Where ``host`` points now (addresses, countries, operators); never raises for DNS."""
        return trace_host(
            host, self._resolver, self._geo, self._deployment.action_rules.home_country
        )

    def _record(
        self,
        session: Session,
        principal: Principal,
        item: ContentItem,
        assessment: rules.Assessment,
        trace: Trace | None,
        now: datetime,
    ) -> ItemState:
        reviewing = self._reviewing(session, principal, item)
        hint = next((h.label for h in views.bank_hints(session, item.id) if h.label), None)
        row = ItemAssessment(
            item_id=item.id,
            user_id=principal.user_id,
            agency=principal.agency,
            classification=assessment.classification.value,
            content_type=assessment.content_type.value,
            age_group=assessment.age_group.value,
            site_type=assessment.site_type.value,
            state=FINAL,
            bank_label=hint,
            reviews_id=reviewing,
            created_at=now,
        )
        session.add(row)
        item.assessed_at = item.assessed_at or now
        country = trace.country if trace is not None else None
        decided = rules.decide(
            self._deployment.action_rules,
            assessment.classification,
            country,
            self._deployment.partners.countries,
        )
        wants_review = (
            rules.needs_second_review(
                assessment.classification, self._deployment.second_review_not_illegal
            )
            or rules.Action.SECOND_REVIEW in decided
        )
        if reviewing is None and wants_review:
            row.state = PENDING_REVIEW
            item.state = ItemState.REVIEW.value
            taken: list[ItemAction] = [
                planning.recorded(item.id, rules.Action.SECOND_REVIEW, principal, now)
            ]
        else:
            item.classification = assessment.classification.value
            if trace is not None:
                session.add(_trace_row(item.id, trace, self._deployment, now))
            wanted = tuple(a for a in decided if a is not rules.Action.SECOND_REVIEW)
            taken = planning.take(
                session,
                self._keys,
                item,
                wanted,
                trace,
                principal,
                now,
                self._deployment,
            )
            # A notice that could not be addressed is sent by hand: the item is watched anyway.
            mailed = any(rules.Action(a.action) in rules.MAILED for a in taken)
            item.state = (ItemState.ACTIONED if mailed else ItemState.CLOSED).value
            item.next_check_at = (
                schedule.first_check_at(now, self._deployment.monitor_backoff_hours)
                if mailed
                else None
            )
        session.flush()
        # The reporters of the item read that it is being assessed, or that action was taken
        # (a police referral made above has already moved its reports further).
        stage = (
            PublicStage.ACTION_TAKEN
            if item.state == ItemState.ACTIONED.value
            else PublicStage.IN_ASSESSMENT
        )
        advance_public_stage(
            session,
            session.scalars(select(ItemReport.report_id).where(ItemReport.item_id == item.id)),
            stage,
            now,
            actor=principal.username,
            agency=principal.agency,
        )
        audit.append(
            session,
            actor=principal.username,
            agency=principal.agency,
            action="hotline.item.assessed",
            subject_type="content_item",
            subject_id=str(item.id),
            now=now,
            details={
                "classification": assessment.classification.value,
                "state": item.state,
                "reviews": reviewing,
                "country": country,
                "actions": [f"{a.action}:{a.status}" for a in taken],
            },
        )
        return ItemState(item.state)

    @staticmethod
    def _reviewing(session: Session, principal: Principal, item: ContentItem) -> int | None:
        """The pending assessment this one reviews, or None for a first assessment."""
        if item.state == ItemState.OPEN.value:
            return None
        if item.state != ItemState.REVIEW.value:
            raise ItemRefused("classification", "assessed", "This item is already assessed.")
        pending = session.scalars(
            select(ItemAssessment)
            .where(ItemAssessment.item_id == item.id, ItemAssessment.state == PENDING_REVIEW)
            .order_by(ItemAssessment.id.desc())
        ).first()
        if pending is None:
            return None
        if pending.user_id == principal.user_id:
            raise ItemRefused(
                "classification", "same_analyst", "Another analyst must review this assessment."
            )
        pending.state = "reviewed"
        return pending.id


def _checked(form: Mapping[str, str]) -> rules.Assessment:
    """The assessment in a submitted form, or :class:`ItemRefused` naming the field."""
    try:
        return rules.check_assessment(
            _choice(form, "classification", rules.Classification),
            _choice(form, "content_type", rules.ContentType),
            _choice(form, "age_group", rules.AgeGroup),
            _choice(form, "site_type", rules.SiteType),
        )
    except rules.AssessmentRefused as exc:
        raise ItemRefused(exc.field, "contradiction", exc.reason) from None


def _choice(form: Mapping[str, str], name: str, enum: type[E]) -> E:
    value = form.get(name, "")
    if value not in {m.value for m in enum}:
        raise ItemRefused(name, "unknown", "Choose one of the options.")
    return enum(value)


def _trace_row(item_id: int, trace: Trace, deployment: Deployment, now: datetime) -> ItemTrace:
    location = rules.locate(
        deployment.action_rules.home_country, trace.country, deployment.partners.countries
    )
    return ItemTrace(
        item_id=item_id,
        host=trace.host[:255],
        addresses=trace.addresses_json(),
        country=trace.country,
        location=location.value,
        error=trace.error,
        traced_at=now,
    )
