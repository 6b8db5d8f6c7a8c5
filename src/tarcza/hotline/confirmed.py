"""What the hotline confirms illegal stays removed: an evidence file's hashes join a bank.

An analyst confirms an evidence file of a report the hotline works (baseline or nationally
illegal); its MD5, SHA-256, PDQ (quality >= 50) and vPDQ join the deployment's confirmed bank
(``TARCZA_CONFIRMED_BANK``; empty turns it off), each labelled with its provenance: the report's
reference and, for a partner platform's report, the partner. Partners matching that bank then
stop the same file (exact) and its near copies (PDQ) on upload. Audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.audit import service as audit
from tarcza.errors import Denied, NotFound, Refused
from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, make_entry
from tarcza.hashing.pdq import MIN_USEFUL_QUALITY
from tarcza.hotline.rules import Classification
from tarcza.intake.models import Evidence, Report

CONFIRMABLE = (Classification.BASELINE, Classification.NATIONAL)


class EvidenceNotFound(NotFound):
    api_message = "No such evidence file, or not one you may see."


class ConfirmDenied(Denied):
    api_message = "Only the hotline's analysts confirm evidence."


class ConfirmRefused(Refused):
    """The classification given is not one that confirms content illegal."""


def entries_of(evidence: Evidence, label: str) -> list[Entry]:
    """The evidence file's hashes as bank entries (PDQ only when usable)."""
    entries = [make_entry("md5", evidence.md5, label), make_entry("sha256", evidence.sha256, label)]
    if evidence.pdq and (evidence.pdq_quality or 0) >= MIN_USEFUL_QUALITY:
        entries.append(make_entry("pdq", evidence.pdq, label))
    if evidence.vpdq:
        entries.append(make_entry("vpdq", evidence.vpdq, label))
    return entries


def provenance(classification: Classification, report: Report) -> str:
    """The label each signal carries: what was confirmed, from which report (and partner)."""
    label = f"hotline confirmed {classification.value}: report {report.reference}"
    if report.source == "partner" and report.platform:
        label += f", partner {report.platform}"
    return label[:200]


def confirm_evidence(
    session: Session,
    principal: Principal,
    evidence_id: int,
    classification: str,
    *,
    bank: str,
    hotline_agency: str,
    now: datetime,
) -> tuple[str, int]:
    """Add the file's hashes to ``bank`` (made on first use); (the report's reference, added)."""
    found = session.execute(
        select(Evidence, Report)
        .join(Report, Report.id == Evidence.report_id)
        .where(Evidence.id == evidence_id)
    ).first()
    relation = (
        Relation.OWN
        if found is not None
        and principal.agency == hotline_agency
        and found[1].owner_agency == hotline_agency
        else Relation.OTHER
    )
    if found is None or not permits(principal, Action.HOTLINE_ITEM_READ, relation):
        raise EvidenceNotFound()
    if not permits(principal, Action.HOTLINE_ITEM_ASSESS, relation):
        raise ConfirmDenied()
    evidence, report = found
    try:
        chosen = Classification(classification)
    except ValueError:
        chosen = None
    if chosen not in CONFIRMABLE or chosen is None:
        raise ConfirmRefused("classification", "unknown", "Choose baseline or nationally illegal.")
    if not bank:
        raise ConfirmRefused("bank", "off", "No confirmed bank is set (TARCZA_CONFIRMED_BANK).")
    if bank not in {b.name for b in bank_service.list_banks(session)}:
        bank_service.create_bank(
            session,
            bank,
            actor=principal.username,
            now=now,
            kind=BankKind.BLOCK,
            source="hotline confirmations",
            terms="Confirmed illegal by the hotline; share with partner platforms under agreement.",
        )
    added = bank_service.add_signals(
        session,
        bank,
        entries_of(evidence, provenance(chosen, report)),
        actor=principal.username,
        now=now,
        origin="hotline",
    )
    audit.append(
        session,
        actor=principal.username,
        agency=principal.agency,
        action="evidence.confirmed",
        subject_type="report",
        subject_id=report.reference,
        now=now,
        details={
            "evidence": evidence.id,
            "classification": chosen.value,
            "bank": bank,
            "added": added.added + added.restored,
            "partner": report.platform if report.source == "partner" else None,
        },
    )
    return report.reference, added.added + added.restored
