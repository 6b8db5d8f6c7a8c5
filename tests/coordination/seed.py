"""Invented figures for the national figures' tests: counts chosen so that some are 3.

March 2026 (the current period) holds 20 csam reports, 8 other ones and 3 sextortion ones
(a count the figures must never show), 12 grooming in February (the previous period);
17 helpline contacts (3 by chat); 18 hotline items (9 baseline, 3 nationally illegal, 6 not
illegal); referrals to the police with answers and outcomes; a bank with matches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tarcza.cases.models import Outcome, Referral
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch, Partner, SignalFeedback
from tarcza.helpline.models import HelplineCase, HelplineContact
from tarcza.hotline.models import ContentItem, ItemTrace
from tarcza.intake.models import Evidence, Report
from tarcza.store.engine import Database

MARCH = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
SMALL = 3  # the count that must never appear


def _report(n: int, category: str, at: datetime, *, source: str = "web",
            danger: bool = False, age: str | None = "13_15") -> Report:  # fmt: skip
    return Report(
        reference=f"TZ-NAT-{n:05d}",
        pin_hash="0" * 64,
        category=category,
        status="received",
        priority=0,
        owner_agency="hotline",
        child_in_danger=danger,
        child_age_range=age,
        language="pl",
        source=source,
        urls=[],
        created_at=at,
        updated_at=at,
    )


def seed(db: Database) -> None:
    """The invented figures (see the module)."""
    with db.transaction() as session:
        reports = [_report(n, "csam", MARCH + timedelta(days=n % 14)) for n in range(20)]
        reports += [
            _report(100 + n, "sextortion", MARCH, source="api", danger=True, age="under_13")
            for n in range(SMALL)
        ]
        reports += [_report(200 + n, "grooming", FEBRUARY, source="partner") for n in range(12)]
        reports += [_report(300 + n, "other", MARCH, source="helpline", age=None) for n in range(8)]
        session.add_all(reports)
        session.flush()
        for n, report in enumerate(reports[20:23] + reports[:9]):
            referral = Referral(
                report_id=report.id, from_agency="hotline", to_agency="police",
                state="accepted", reason_sealed=b"sealed", created_by="hotline-sup",
                created_at=MARCH, answered_by="officer",
                answered_at=MARCH + timedelta(hours=2 + n),
            )  # fmt: skip
            session.add(referral)
            session.flush()
            if n < 7:
                session.add(Outcome(
                    report_id=report.id, referral_id=referral.id, agency="police",
                    outcome="investigation_opened" if n < 4 else "no_action",
                    recorded_by="officer", recorded_at=MARCH + timedelta(days=1),
                ))  # fmt: skip
        _hotline(session)
        _banks(session, reports[0].id)
        _helpline(session)


def _hotline(session: object) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    for n in range(18):
        classification = "baseline" if n < 9 else "national" if n < 12 else "not_illegal"
        item = ContentItem(
            url_key=f"{n:064d}", url=f"http://invented.example/{n}", host="invented.example",
            state="removed", classification=classification,
            first_reported_at=MARCH, last_reported_at=MARCH,
            assessed_at=MARCH + timedelta(hours=1), noticed_at=MARCH + timedelta(hours=2),
            removed_at=MARCH + timedelta(hours=20 + n),
        )  # fmt: skip
        session.add(item)
        session.flush()
        session.add(ItemTrace(
            item_id=item.id, host="invented.example", addresses="192.0.2.1",
            country="NL" if n < 9 else "DE", location="abroad", traced_at=MARCH,
        ))  # fmt: skip


def _banks(session: object, report_id: int) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    bank = Bank(
        name="SELF_PROTECTION", kind="block", source="invented", terms="tests",
        pdq_threshold=31, enabled=True, created_at=FEBRUARY, updated_at=FEBRUARY,
    )  # fmt: skip
    session.add(bank)
    session.flush()
    evidence = Evidence(
        report_id=report_id, storage_key="k" * 64, media_type="image/png", size_bytes=1,
        width=1, height=1, md5="0" * 32, sha256="0" * 64, created_at=MARCH,
    )  # fmt: skip
    session.add(evidence)
    partner = Partner(name="platform-x", key_hash="p" * 64, enabled=True, created_at=FEBRUARY)
    session.add(partner)
    session.flush()
    for n in range(12):
        signal = BankSignal(
            bank_id=bank.id, signal_type="md5", value=f"{n:032x}", lookup_key=f"{n:064x}",
            created_at=FEBRUARY,
        )  # fmt: skip
        session.add(signal)
        session.flush()
        session.add(EvidenceMatch(
            evidence_id=evidence.id, bank_id=bank.id, signal_id=signal.id,
            signal_type="md5", distance=0, created_at=MARCH,
        ))  # fmt: skip
        session.add(SignalFeedback(
            signal_id=signal.id, partner_id=partner.id, action="blocked", count=1, created_at=MARCH,
        ))  # fmt: skip


def _helpline(session: object) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    case = HelplineCase(
        agency="helpline", status="open", risk="high", created_by="counsellor",
        created_at=MARCH, updated_at=MARCH,
    )  # fmt: skip
    session.add(case)
    for n in range(17):
        session.add(HelplineContact(
            agency="helpline", caller="child",
            channel="phone" if n < 8 else "chat" if n < 11 else "email",
            age_band="13_15", topics="sextortion grooming", risk="medium",
            started_at=MARCH, duration_minutes=10, summary_sealed=b"sealed",
            created_by="counsellor", created_at=MARCH,
        ))  # fmt: skip
