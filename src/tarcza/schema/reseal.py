"""Key rotation: seal every stored secret again with the current data key.

Rotation has two steps. First configure the new key in front of the old one
(``TARCZA_DATA_KEYS=new:...,old:...``): new data is sealed with the new key
and old rows stay readable. Then run ``tarcza keys reseal``, which rewrites
every sealed column and evidence file that still uses another key; after it
the old key can be removed from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.store.base import utcnow
from tarcza.store.engine import Database


@dataclass
class ResealCount:
    """How many blobs were sealed again, per table and column, and how many were current."""

    resealed: dict[str, int] = field(default_factory=dict)
    current: int = 0

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def _sealed_columns() -> list[tuple[InstrumentedAttribute[Any], Callable[[Any], str]]]:
    """Every sealed column and how to name the context a row's blob is bound to."""
    from tarcza.accounts.models import StaffSession, User
    from tarcza.cases.models import Referral
    from tarcza.intake.models import IdempotencyRecord, Report

    return [
        (Report.description_sealed, lambda r: f"report:{r.reference}:description"),
        (Report.usernames_sealed, lambda r: f"report:{r.reference}:usernames"),
        (Report.contact_sealed, lambda r: f"report:{r.reference}:contact"),
        (IdempotencyRecord.response_sealed, lambda r: f"idem:{r.key_hash}"),
        (User.display_name_sealed, lambda r: f"user:{r.id}:name"),
        (User.totp_secret_sealed, lambda r: f"user:{r.id}:totp"),
        (Referral.reason_sealed, lambda r: f"referral:{r.id}:reason"),
        (Referral.answer_sealed, lambda r: f"referral:{r.id}:answer"),
        (StaffSession.pending_totp_sealed, lambda r: f"session:{r.token_hash}:totp"),
    ]


def reseal_all(
    db: Database, keyring: KeyRing, evidence: EvidenceStore, *, batch: int = 500
) -> ResealCount:
    """Seal again, batch by batch (one transaction each), everything not under the current key."""
    count = ResealCount()
    for column, context in _sealed_columns():
        model = column.class_
        name = f"{model.__tablename__}.{column.key}"
        pk = model.__mapper__.primary_key[0]
        last: Any = None
        while True:
            with db.transaction() as session:
                query = select(model).where(column.is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = session.scalars(query).all()
                for row in rows:
                    fresh = keyring.reseal(getattr(row, column.key), context(row))
                    if fresh is None:
                        count.current += 1
                    else:
                        setattr(row, column.key, fresh)
                        count.resealed[name] = count.resealed.get(name, 0) + 1
                if rows:
                    last = getattr(rows[-1], pk.key)
            if len(rows) < batch:
                break
    _reseal_evidence(db, evidence, count)
    with db.transaction() as session:
        audit.append(
            session,
            actor="command-line",
            action="keys.resealed",
            subject_type="keys",
            subject_id=keyring.current_key_id,
            now=utcnow(),
            details={"resealed": count.resealed, "already_current": count.current},
        )
    return count


def _reseal_evidence(db: Database, evidence: EvidenceStore, count: ResealCount) -> None:
    from tarcza.intake.models import Evidence

    with db.sessions() as session:
        keys = list(session.scalars(select(Evidence.storage_key).order_by(Evidence.id)))
    for storage_key in keys:
        if evidence.reseal(storage_key):
            count.resealed["evidence files"] = count.resealed.get("evidence files", 0) + 1
        else:
            count.current += 1
