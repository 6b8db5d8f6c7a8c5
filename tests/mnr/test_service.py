"""The MNR tracker's service on SQLite and PostgreSQL: seeding, who changes what, history,
audit, overdue actions, and the live indicators with small counts suppressed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.app import Application
from tarcza.audit import service as audit
from tarcza.cases.models import Referral
from tarcza.config import Settings
from tarcza.helpline.models import HelplineCase, HelplineContact
from tarcza.hotline.models import ContentItem
from tarcza.intake.models import Report
from tarcza.mnr.indicators import LiveIndicators
from tarcza.mnr.models import MnrChange
from tarcza.mnr.service import MnrDenied, MnrNotFound, MnrRefused, MnrService
from tarcza.mnr.views import ActionChange, CapabilityChange, DomainChange, NewAction
from tarcza.store.engine import Database
from tests.support.app import make_application
from tests.support.staff import add_agencies

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OFFICER = Principal(1, "piotr", "police", AgencyKind.POLICE, Role.OFFICER, True)
ANALYST = Principal(2, "anna", "hotline", AgencyKind.HOTLINE, Role.ANALYST, True)
COORDINATOR = Principal(3, "ola", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, True)
ADMIN = Principal(4, "adam", "police", AgencyKind.POLICE, Role.ADMINISTRATOR, True)


@dataclass
class World:
    ctx: Application
    mnr: MnrService


@pytest.fixture
def world(settings: Settings, db: Database) -> Iterator[World]:
    ctx = make_application(settings, db)
    add_agencies(ctx)
    provider = LiveIndicators(ctx.db, intake_agency="hotline")
    yield World(ctx, MnrService(ctx.db, indicators=provider, clock=lambda: NOW, cache_seconds=0))
    ctx.close()


def test_the_first_read_seeds_21_capabilities_in_6_domains(world: World) -> None:
    domains = world.mnr.overview(OFFICER)
    assert [d.code for d in domains] == [
        "policy", "justice", "victim", "societal", "industry", "media",
    ]  # fmt: skip
    numbers = [c.number for d in domains for c in d.capabilities]
    assert numbers == list(range(1, 22))
    four = world.mnr.capability(OFFICER, 4)
    assert four.summary.name_pl == "Wyspecjalizowane organy ścigania"
    assert four.summary.agencies == ("police",)
    assert four.summary.phase == 1 and four.evidence == ""
    assert four.may_update and not four.may_manage
    assert world.mnr.overview(ANALYST)[0].capabilities[0].number == 1  # seeded once


def test_a_responsible_institution_updates_evidence_kept_in_history_and_audited(
    world: World,
) -> None:
    view = world.mnr.update(OFFICER, 4, CapabilityChange(evidence="Two cybercrime units."))
    assert view.evidence == "Two cybercrime units."
    assert view.updated_by == "piotr"
    [entry] = view.history
    assert (entry.field, entry.old, entry.new) == ("evidence", "", "Two cybercrime units.")
    assert (entry.changed_by, entry.agency, entry.changed_at) == ("piotr", "police", NOW)
    with world.ctx.db.sessions() as session:
        [logged] = audit.entries_for(session, "mnr_capability", "4")
        assert logged.action == "mnr.capability_changed" and logged.actor == "piotr"
        assert '"evidence"' in logged.details
    # the same again changes nothing and records nothing
    world.mnr.update(OFFICER, 4, CapabilityChange(evidence="Two cybercrime units."))
    assert len(world.mnr.capability(OFFICER, 4).history) == 1


def test_another_agency_may_not_change_what_it_is_not_responsible_for(world: World) -> None:
    with pytest.raises(MnrDenied):
        world.mnr.update(ANALYST, 4, CapabilityChange(evidence="Not ours."))
    with pytest.raises(MnrDenied):
        world.mnr.add_action(ANALYST, 4, NewAction("x", "police", "2027-01-01"))
    assert not world.mnr.capability(ANALYST, 4).may_update
    assert world.mnr.capability(ANALYST, 12).may_update  # the hotline's own
    with pytest.raises(MnrDenied):
        world.mnr.overview(ADMIN)  # administrators manage accounts, not the tracker
    with world.ctx.db.sessions() as session:
        assert session.scalars(select(MnrChange)).all() == []


def test_only_the_coordinator_changes_phase_names_and_responsibility(world: World) -> None:
    with pytest.raises(MnrDenied):
        world.mnr.update(OFFICER, 4, CapabilityChange(phase=3))
    change = CapabilityChange(
        phase=3,
        name_en="Dedicated law enforcement units",
        agencies=["police", "hotline"],
        institutions=["Prokuratura Krajowa"],
        evidence="Assessed by the ministry.",
    )
    view = world.mnr.update(COORDINATOR, 4, change)
    assert view.summary.phase == 3
    assert view.summary.name_en == "Dedicated law enforcement units"
    assert view.summary.agencies == ("hotline", "police")
    assert view.summary.institutions == ("Prokuratura Krajowa",)
    fields = {h.field: (h.old, h.new) for h in view.history}
    assert fields["phase"] == ("1", "3")
    assert fields["agencies"] == ("police", "hotline police")
    assert fields["institutions"] == ("", "Prokuratura Krajowa")
    assert world.mnr.capability(ANALYST, 4).may_update  # the hotline is responsible now
    with pytest.raises(MnrRefused) as refused:
        world.mnr.update(COORDINATOR, 4, CapabilityChange(agencies=["nobody"]))
    assert (refused.value.field, refused.value.code) == ("agencies", "unknown_agency")
    with pytest.raises(MnrNotFound):
        world.mnr.update(COORDINATOR, 22, CapabilityChange(phase=2))
    renamed = world.mnr.rename_domain(COORDINATOR, "media", DomainChange(name_en="Media"))
    assert renamed.name_en == "Media"
    with pytest.raises(MnrDenied):
        world.mnr.rename_domain(OFFICER, "media", DomainChange(name_en="Press"))


def test_actions_their_history_and_overdue_ones(world: World) -> None:
    yesterday = (NOW - timedelta(days=1)).date()
    late = world.mnr.add_action(
        OFFICER, 4, NewAction("Train 40 investigators", "police", yesterday, "in_progress")
    )
    later = world.mnr.add_action(OFFICER, 4, NewAction("Open a lab", "police", "2027-06-30"))
    assert late.overdue and not later.overdue
    summary = next(
        c for d in world.mnr.overview(COORDINATOR) for c in d.capabilities if c.number == 4
    )
    assert (summary.open_actions, summary.overdue_actions) == (2, 1)
    done = world.mnr.change_action(OFFICER, late.id, ActionChange(state="done"))
    assert not done.overdue
    view = world.mnr.capability(COORDINATOR, 4)
    assert [a.title for a in view.actions] == ["Train 40 investigators", "Open a lab"]
    states = [(h.old, h.new) for h in view.history if h.field == "state" and h.action_id == late.id]
    assert states == [("in_progress", "done"), (None, "in_progress")]  # newest first
    assert view.summary.overdue_actions == 0
    with pytest.raises(MnrRefused) as refused:
        world.mnr.add_action(OFFICER, 4, NewAction("x", "hotline", "2027-01-01"))
    assert refused.value.code == "not_responsible"
    with pytest.raises(MnrRefused) as refused:
        world.mnr.change_action(OFFICER, later.id, ActionChange(due="2027-13-01"))
    assert (refused.value.field, refused.value.code) == ("due", "not_a_date")
    with pytest.raises(MnrDenied):
        world.mnr.change_action(ANALYST, later.id, ActionChange(state="dropped"))
    with pytest.raises(MnrNotFound):
        world.mnr.change_action(OFFICER, 10**9, ActionChange(state="done"))
    with pytest.raises(MnrNotFound):
        world.mnr.change_action(OFFICER, 0, ActionChange(state="done"))


def _contact(at: datetime) -> HelplineContact:
    return HelplineContact(
        agency="helpline", channel="phone", caller="child", age_band="13_15", topics="sextortion",
        risk="high", started_at=at, duration_minutes=5, summary_sealed=b"x", created_by="kasia",
        created_at=at,
    )  # fmt: skip


def _case(at: datetime) -> HelplineCase:
    return HelplineCase(
        agency="helpline", status="open", risk="high", created_by="kasia", created_at=at,
        updated_at=at,
    )  # fmt: skip


def _item(n: int, first: datetime, removed: datetime | None) -> ContentItem:
    return ContentItem(
        url_key=f"{n:064d}", url=f"https://example.com/{n}", host="example.com", state="removed",
        first_reported_at=first, last_reported_at=first, removed_at=removed, noticed_at=first,
        classification="baseline", assessed_at=first,
    )  # fmt: skip


def _report(n: int, at: datetime) -> Report:
    return Report(
        reference=f"TZ-TEST-{n:04d}", pin_hash="x", category="csam", status="new", priority=3,
        owner_agency="hotline", child_in_danger=False, language="pl", source="partner", urls=[],
        created_at=at, updated_at=at,
    )  # fmt: skip


def test_live_indicators_count_the_last_90_days_and_suppress_small_counts(world: World) -> None:
    with world.ctx.db.transaction() as session:
        reports = [_report(n, NOW - timedelta(days=5)) for n in range(6)]
        session.add_all(reports)
        session.flush()
        session.add_all(
            Referral(
                report_id=r.id, from_agency="hotline", to_agency="police", state="accepted",
                reason_sealed=b"x", created_by="anna", created_at=r.created_at,
                answered_at=r.created_at + timedelta(hours=n + 1),
            )
            for n, r in enumerate(reports)
        )  # fmt: skip
        session.add_all(_contact(NOW - timedelta(days=d)) for d in range(1, 8))  # 7 recent
        session.add(_contact(NOW - timedelta(days=120)))  # outside the window
        session.add_all(_case(NOW - timedelta(days=d)) for d in range(1, 4))  # 3: too few
        for n in range(6):  # 6 items, removed after 2, 4, … 12 hours
            first = NOW - timedelta(days=10)
            session.add(_item(n, first, first + timedelta(hours=2 * (n + 1))))
    eleven = world.mnr.capability(COORDINATOR, 11).summary.indicators
    shown = {i.key: i for i in eleven}
    assert shown["helpline.contacts"].value == 7
    assert shown["helpline.cases_opened"].value is None
    assert shown["helpline.cases_opened"].suppressed
    sixteen = {i.key: i for i in world.mnr.capability(COORDINATOR, 16).summary.indicators}
    assert sixteen["takedown.hours_to_removal"].value == 6.0  # nearest-rank median of 2..12
    assert sixteen["takedown.removed_within_3_days"].value == 1.0
    four = {i.key: i.value for i in world.mnr.capability(COORDINATOR, 4).summary.indicators}
    assert four["police.referrals"] == 6 and four["police.acknowledged"] == 6
    assert four["police.hours_to_acknowledge"] == 3.0  # nearest rank: the 3rd of 1..6 hours
    seventeen = {i.key: i.value for i in world.mnr.capability(COORDINATOR, 17).summary.indicators}
    assert seventeen["industry.partner_reports"] == 6
    assert world.mnr.capability(COORDINATOR, 1).summary.self_assessed


def test_a_fresh_database_is_seeded_by_whichever_process_comes_first(world: World) -> None:
    other = MnrService(world.ctx.db, clock=lambda: NOW)
    world.mnr.overview(OFFICER)
    assert len([c for d in other.overview(OFFICER) for c in d.capabilities]) == 21
    assert world.mnr.capability(OFFICER, 21).summary.number == 21
