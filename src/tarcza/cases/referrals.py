"""Casework opens referrals: the one function other concepts ask, inside their transaction.

The hotline does not write casework's rows: when its action rules send a report to the
police it calls :func:`open_referral` with the session it is working in, so the referral,
its sealed reason and its audit entry commit with the hotline's own records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.cases.models import Referral
from tarcza.cases.rules import OPEN_REFERRAL_STATES, ReferralState
from tarcza.crypto import KeyRing


def open_referral(
    session: Session,
    keys: KeyRing,
    *,
    report_id: int,
    reference: str,
    from_agency: str,
    to_agency: str,
    reason: str,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> int | None:
    """Refer the report to ``to_agency`` unless an open referral there exists (then None).

    ``reason`` is sealed like every referral reason; a system-made reason is a code that
    the pages translate (see ``tarcza.cases.pages``). Returns the new referral's id.
    """
    already = session.scalar(
        select(Referral.id).where(
            Referral.report_id == report_id,
            Referral.to_agency == to_agency,
            Referral.state.in_(OPEN_REFERRAL_STATES),
        )
    )
    if already is not None:
        return None
    row = Referral(
        report_id=report_id,
        from_agency=from_agency,
        to_agency=to_agency,
        state=ReferralState.PENDING.value,
        reason_sealed=b"",
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.reason_sealed = keys.seal_text(reason, f"referral:{row.id}:reason")
    audit.append(
        session,
        actor=actor,
        agency=from_agency,
        action="report.referred",
        subject_type="report",
        subject_id=reference,
        now=now,
        reason=reason,
        details={"referral": row.id, "to": to_agency, **(details or {})},
    )
    return row.id
