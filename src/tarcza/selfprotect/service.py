"""Self-protection cases: hashes in, shared with the platforms, counted back, withdrawn.

The person's device computes the hashes; this service never sees an image. A case opens with
a number and a PIN, shares its hashes through the self-protection bank (the partners' match
API and change feed), holds back for a supervisor what matches an allow-list bank or what many
unrelated cases submitted, counts the copies partners report stopping, and on withdrawal takes
the hashes out of the bank (the feed carries the removal) unless another case still holds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.errors import NotFound, Refused
from tarcza.hashing import bank_service, banks
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.feed import stopped_copies
from tarcza.hashing.matcher import Matcher, SignalQuery
from tarcza.hashing.models import Bank, BankSignal
from tarcza.intake.service import LimitedWithHelp
from tarcza.selfprotect import rules
from tarcza.selfprotect.models import ProtectedHash, ProtectionCase
from tarcza.store import throttle
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tarcza.store.rates import Charge, Quota, SharedRates

PUBLIC_ACTOR = "public"
SHARED, REVIEW, REJECTED, WITHDRAWN = "shared", "review", "rejected", "withdrawn"


class CaseRefused(Refused):
    """What was sent cannot open or change a case: ``field`` says where, ``code`` why.

    ``field`` may be a path such as ``items[2].vpdq[0].pdq``.
    """

    @property
    def problems(self) -> Sequence[tuple[list[str | int], str, str]]:
        loc: list[str | int] = ["body"]
        for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", self.field):
            loc.append(name or int(index))
        return [(loc, self.code, self.message)]


class CaseNotFound(NotFound):
    """No case answers to this number and PIN (which one is wrong is not said)."""

    detail = "No case matches this number and PIN."


class CaseClosed(Refused):
    """The case was withdrawn: nothing can be added to it."""


class HashNotHeld(NotFound):
    """No hash waits for review under this id."""

    detail = "No hash waits for review under this id."


class CasesLimited(LimitedWithHelp):
    """Too many cases or additions from this network or device just now."""

    detail = (
        "Too many requests from this network or device just now. Try again after "
        "Retry-After seconds. If a child is in danger now, call 112."
    )


@dataclass(frozen=True)
class Requester:
    """Where a request comes from, as the limits count it: a network, and a device (a random
    cookie the page keeps), each as given; None: not limited (staff tools, tests)."""

    network: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class ProtectPolicy:
    """The self-protection bank and the limits around it."""

    bank: str = "SELF_PROTECTION"
    # This many unrelated cases with one hash hold it for review (a meme, a stock photo).
    review_after_cases: int = 3
    max_items_per_case: int = 50
    per_network: Quota = field(default_factory=lambda: Quota.of("protect-network", "10/hour"))
    per_device: Quota = field(default_factory=lambda: Quota.of("protect-device", "5/hour"))
    pin_per_reference: int = 5
    pin_per_client: int = 20
    pin_window: timedelta = timedelta(minutes=15)
    pin_lock: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class CaseReceipt:
    """What the person is told once: the case number and the PIN."""

    reference: str
    pin: str
    status: CaseStatus


@dataclass(frozen=True)
class CaseStatus:
    """All a case number and PIN reveal: counts, never the hashes."""

    reference: str
    age_band: rules.AgeBand
    items: int
    shared: int  # items with a hash shared with the platforms
    held: int  # items waiting for a supervisor
    stopped: int  # copies the platforms said they stopped
    created_at: datetime
    withdrawn_at: datetime | None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


@dataclass(frozen=True)
class HeldHash:
    """A hash waiting for review: what it is and why, never whose."""

    id: int
    signal_type: str
    value: str
    reason: str
    cases: int
    since: datetime


class SelfProtectService:
    """Opens, reads, extends and withdraws self-protection cases; reviews held hashes."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        matcher: Matcher | None = None,
        rates: SharedRates | None = None,
        policy: ProtectPolicy | None = None,
        country: str = "PL",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._keys = keyring
        self._matcher = matcher
        self._rates = rates
        self._policy = policy or ProtectPolicy()
        self._country = country
        self._clock = clock

    @property
    def policy(self) -> ProtectPolicy:
        return self._policy

    # -- the person's side ------------------------------------------------------------------

    def open_case(
        self, age_band: str, items: Sequence[object], requester: Requester | None = None
    ) -> CaseReceipt:
        """Open a case for ``items`` (hashes as the browser sent them); its number and PIN."""
        try:
            band = rules.AgeBand(age_band)
        except ValueError:
            raise CaseRefused(
                "age_band", "invalid_age_band", "choose one of the age bands"
            ) from None
        checked = self._checked(items, already=0)
        self._count(requester)
        allowed = self._allow_listed(checked)
        now = self._clock()
        pin = rules.new_case_pin()
        for attempt in range(3):
            reference = rules.new_case_reference()
            try:
                with self._db.transaction() as session:
                    case = ProtectionCase(
                        reference=reference,
                        pin_hash=self._pin_hash(reference, pin),
                        age_band=band.value,
                        items=len(checked),
                        created_at=now,
                    )
                    session.add(case)
                    session.flush()
                    shared, held = self._protect(session, case, checked, allowed, 0, now)
                    audit.append(
                        session,
                        actor=PUBLIC_ACTOR,
                        action="selfprotect.case_opened",
                        subject_type="protection_case",
                        subject_id=reference,
                        now=now,
                        details={"items": len(checked), "shared": shared, "held": held},
                    )
                    status = self._status(session, case)
                return CaseReceipt(reference=reference, pin=pin, status=status)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def case_status(self, reference: str, pin: str, client: str) -> CaseStatus:
        """The counts of a case, for whoever holds its number and PIN."""
        case_id = self._open(reference, pin, client)
        with self._db.sessions() as session:
            return self._status(session, self._by_id(session, case_id))

    def add_items(
        self,
        reference: str,
        pin: str,
        items: Sequence[object],
        client: str,
        requester: Requester | None = None,
    ) -> CaseStatus:
        """Protect more items in an open case."""
        case_id = self._open(reference, pin, client)
        with self._db.sessions() as session:
            case = self._by_id(session, case_id)
            if case.withdrawn_at is not None:
                raise CaseClosed("reference", "withdrawn", "this case was withdrawn")
            already = case.items
        checked = self._checked(items, already=already)
        self._count(requester)
        allowed = self._allow_listed(checked)
        now = self._clock()
        with self._db.transaction() as session:
            case = self._by_id(session, case_id)
            if case.withdrawn_at is not None:
                raise CaseClosed("reference", "withdrawn", "this case was withdrawn")
            if case.items + len(checked) > self._policy.max_items_per_case:
                raise self._too_many()
            shared, held = self._protect(session, case, checked, allowed, case.items, now)
            case.items += len(checked)
            audit.append(
                session,
                actor=PUBLIC_ACTOR,
                action="selfprotect.items_added",
                subject_type="protection_case",
                subject_id=case.reference,
                now=now,
                details={"items": len(checked), "shared": shared, "held": held},
            )
            return self._status(session, case)

    def withdraw(self, reference: str, pin: str, client: str) -> CaseStatus:
        """Withdraw a case: its hashes leave the bank unless another case still shares them."""
        case_id = self._open(reference, pin, client)
        now = self._clock()
        with self._db.transaction() as session:
            case = self._by_id(session, case_id)
            if case.withdrawn_at is None:
                rows = session.scalars(
                    select(ProtectedHash).where(
                        ProtectedHash.case_id == case.id,
                        ProtectedHash.state.in_([SHARED, REVIEW]),
                    )
                ).all()
                was_shared = {(r.signal_type, r.value) for r in rows if r.state == SHARED}
                for row in rows:
                    row.state, row.decided_at = WITHDRAWN, now
                session.flush()
                removed = 0
                for signal_type, value in sorted(was_shared):
                    if not self._still_shared(session, signal_type, value):
                        removed += self._unshare(session, signal_type, value, now, "withdrawn")
                case.withdrawn_at = now
                audit.append(
                    session,
                    actor=PUBLIC_ACTOR,
                    action="selfprotect.case_withdrawn",
                    subject_type="protection_case",
                    subject_id=case.reference,
                    now=now,
                    details={"hashes_removed_from_bank": removed},
                )
            return self._status(session, case)

    # -- the supervisor's side --------------------------------------------------------------

    def held(self) -> list[HeldHash]:
        """The hashes waiting for review, each once, oldest first."""
        with self._db.sessions() as session:
            rows = session.execute(
                select(
                    func.min(ProtectedHash.id),
                    ProtectedHash.signal_type,
                    ProtectedHash.value,
                    func.min(ProtectedHash.reason),
                    func.count(func.distinct(ProtectedHash.case_id)),
                    func.min(ProtectedHash.created_at),
                )
                .where(ProtectedHash.state == REVIEW)
                .group_by(ProtectedHash.signal_type, ProtectedHash.value)
                .order_by(func.min(ProtectedHash.created_at))
            ).all()
        return [
            HeldHash(
                id=int(hash_id),
                signal_type=signal_type,
                value=value,
                reason=reason or "",
                cases=int(cases),
                since=since,
            )
            for hash_id, signal_type, value, reason, cases, since in rows
        ]

    def decide(self, hash_id: int, *, share: bool, actor: str, reason: str) -> None:
        """Share a held hash (every case holding it), or keep it out of the bank."""
        now = self._clock()
        with self._db.transaction() as session:
            first = session.get(ProtectedHash, hash_id)
            if first is None or first.state != REVIEW:
                raise HashNotHeld()
            rows = session.scalars(
                select(ProtectedHash).where(
                    ProtectedHash.signal_type == first.signal_type,
                    ProtectedHash.value == first.value,
                    ProtectedHash.state == REVIEW,
                )
            ).all()
            for row in rows:
                row.state = SHARED if share else REJECTED
                row.decided_at, row.decided_by = now, actor
            if share:
                self._share(session, [(first.signal_type, first.value)], now)
            audit.append(
                session,
                actor=actor,
                action="selfprotect.hash_shared" if share else "selfprotect.hash_rejected",
                subject_type="protected_hash",
                subject_id=str(hash_id),
                now=now,
                reason=reason,
                details={"signal_type": first.signal_type, "cases": len(rows)},
            )

    # -- inside ------------------------------------------------------------------------------

    def _too_many(self) -> CaseRefused:
        most = self._policy.max_items_per_case
        return CaseRefused("items", "too_many_items", f"a case protects at most {most} items")

    def _checked(self, items: Sequence[object], *, already: int) -> list[rules.ProtectedItem]:
        if not items:
            raise CaseRefused("items", "missing", "choose at least one picture or video")
        if already + len(items) > self._policy.max_items_per_case:
            raise self._too_many()
        try:
            return [rules.check_item(i, raw) for i, raw in enumerate(items)]
        except rules.ItemRefused as exc:
            raise CaseRefused(exc.field, exc.code, exc.message) from None

    def _count(self, requester: Requester | None) -> None:
        if self._rates is None or requester is None:
            return
        charges: list[Charge] = []
        if requester.network is not None:
            key = self._keys.keyed_hash("rate-client", requester.network)
            charges.append((self._policy.per_network, key))
        if requester.device:
            key = self._keys.keyed_hash("rate-device", requester.device)
            charges.append((self._policy.per_device, key))
        wait = self._rates.take(charges) if charges else 0
        if wait:
            raise CasesLimited(wait, self._country)

    def _allow_listed(self, items: Sequence[rules.ProtectedItem]) -> list[bool]:
        """Whether an allow-list bank matches each item (known lawful content)."""
        if self._matcher is None:
            return [False] * len(items)
        queries = [
            [SignalQuery(SignalType(t), banks.normalise_signal(SignalType(t), v))]
            for item in items
            for t, v in item.signals()
            if t in ("md5", "sha256", "pdq")
        ]
        per_item = [
            len([1 for t, _ in item.signals() if t in ("md5", "sha256", "pdq")]) for item in items
        ]
        results = self._matcher.match(queries) if queries else []
        out, at = [], 0
        for n in per_item:
            out.append(any(r.suppressed for r in results[at : at + n]))
            at += n
        return out

    def _protect(
        self,
        session: Session,
        case: ProtectionCase,
        items: Sequence[rules.ProtectedItem],
        allowed: Sequence[bool],
        first_item: int,
        now: datetime,
    ) -> tuple[int, int]:
        """Record the items' hashes, share what may be shared; (items shared, items held)."""
        to_share: list[tuple[str, str]] = []
        items_shared = items_held = 0
        for offset, (item, allow_listed) in enumerate(zip(items, allowed, strict=True)):
            held_any = False
            for signal_type, value in item.signals():
                canonical = banks.normalise_signal(SignalType(signal_type), value)
                others = self._cases_with(session, signal_type, canonical, case.id)
                reason = rules.hold_reason(
                    allow_listed=allow_listed,
                    cases_with_it=others + 1,
                    review_after=self._policy.review_after_cases,
                )
                session.add(
                    ProtectedHash(
                        case_id=case.id,
                        item=first_item + offset,
                        signal_type=signal_type,
                        value=canonical,
                        lookup_key=banks.lookup_key(canonical),
                        state=SHARED if reason is None else REVIEW,
                        reason=None if reason is None else reason.value,
                        created_at=now,
                    )
                )
                if reason is None:
                    to_share.append((signal_type, canonical))
                else:
                    held_any = True
                    if reason is rules.HoldReason.COMMON:
                        self._hold_everywhere(session, signal_type, canonical, now)
            items_held += held_any
            items_shared += not held_any
        session.flush()
        self._share(session, to_share, now)
        return items_shared, items_held

    def _cases_with(self, session: Session, signal_type: str, value: str, case_id: int) -> int:
        return int(
            session.scalar(
                select(func.count(func.distinct(ProtectedHash.case_id))).where(
                    ProtectedHash.signal_type == signal_type,
                    ProtectedHash.lookup_key == banks.lookup_key(value),
                    ProtectedHash.state.in_([SHARED, REVIEW]),
                    ProtectedHash.case_id != case_id,
                )
            )
            or 0
        )

    def _hold_everywhere(
        self, session: Session, signal_type: str, value: str, now: datetime
    ) -> None:
        """A hash that became common waits for review in every case, out of the bank."""
        rows = session.scalars(
            select(ProtectedHash).where(
                ProtectedHash.signal_type == signal_type,
                ProtectedHash.lookup_key == banks.lookup_key(value),
                ProtectedHash.state == SHARED,
            )
        ).all()
        for row in rows:
            row.state, row.reason = REVIEW, rules.HoldReason.COMMON.value
        if rows:
            session.flush()
            self._unshare(session, signal_type, value, now, "held for review: common")

    def _still_shared(self, session: Session, signal_type: str, value: str) -> bool:
        return (
            session.scalar(
                select(ProtectedHash.id)
                .where(
                    ProtectedHash.signal_type == signal_type,
                    ProtectedHash.lookup_key == banks.lookup_key(value),
                    ProtectedHash.state == SHARED,
                )
                .limit(1)
            )
            is not None
        )

    def _bank(self, session: Session, now: datetime) -> str:
        """The self-protection bank, made on first use."""
        name = self._policy.bank
        if session.scalar(select(Bank.id).where(Bank.name == name)) is None:
            try:
                with session.begin_nested():
                    self._create_bank(session, name, now)
            except (IntegrityError, bank_service.BankError):
                pass  # another case made it at the same moment
        return name

    @staticmethod
    def _create_bank(session: Session, name: str, now: datetime) -> None:
        bank_service.create_bank(
            session,
            name,
            actor="selfprotect",
            now=now,
            kind=BankKind.BLOCK,
            source="self-protection (hashes from the person's own device)",
            terms=rules.SHARING_TERMS,
        )

    def _share(self, session: Session, signals: Sequence[tuple[str, str]], now: datetime) -> None:
        if not signals:
            return
        entries = [Entry(SignalType(t), v) for t, v in dict.fromkeys(signals)]
        bank_service.add_signals(
            session, self._bank(session, now), entries, actor="selfprotect", now=now,
            origin="selfprotect",
        )  # fmt: skip

    def _unshare(
        self, session: Session, signal_type: str, value: str, now: datetime, reason: str
    ) -> int:
        try:
            bank_service.remove_signal(
                session,
                self._policy.bank,
                SignalType(signal_type),
                value,
                actor="selfprotect",
                now=now,
                reason=reason,
            )
        except bank_service.BankError:
            return 0  # not in the bank (never shared, or removed already)
        return 1

    def _by_id(self, session: Session, case_id: int) -> ProtectionCase:
        case = session.get(ProtectionCase, case_id)
        if case is None:
            raise CaseNotFound()
        return case

    def _open(self, reference: str, pin: str, client: str) -> int:
        """The id of the case for this number and PIN; wrong ones count towards a lock-out.

        The attempt is taken (committed) before the PIN is looked at, and given back when it
        was right, each in a transaction of its own: the caller's transaction starts after.
        """
        valid = rules.normalise_case_reference(reference)
        canonical_ref = valid or reference.strip().upper()[:40]
        canonical_pin = "".join(ch for ch in pin if ch not in " -")
        policy = self._policy
        keys = (
            (self._keys.keyed_hash("throttle-client", client), policy.pin_per_client),
            (self._keys.keyed_hash("throttle-case", canonical_ref), policy.pin_per_reference),
        )
        throttle.take_attempts(
            self._db, keys, window=policy.pin_window, lock=policy.pin_lock, now=self._clock()
        )
        with self._db.sessions() as session:
            found = (
                session.execute(
                    select(ProtectionCase.id, ProtectionCase.pin_hash).where(
                        ProtectionCase.reference == valid
                    )
                ).first()
                if valid is not None
                else None
            )
        if found is None or not self._keys.verify_keyed_hash(
            "selfprotect-pin", f"{canonical_ref}:{canonical_pin}", found.pin_hash
        ):
            raise CaseNotFound()
        with self._db.transaction() as counting:
            for key, limit in keys:
                throttle.give_back(counting, key, limit)
        return int(found.id)

    def _pin_hash(self, reference: str, pin: str) -> str:
        return self._keys.keyed_hash("selfprotect-pin", f"{reference}:{pin}")

    def _status(self, session: Session, case: ProtectionCase) -> CaseStatus:
        rows = session.execute(
            select(ProtectedHash.item, ProtectedHash.state, ProtectedHash.signal_type,
                   ProtectedHash.lookup_key)
            .where(ProtectedHash.case_id == case.id)
        ).all()  # fmt: skip
        states: dict[int, set[str]] = {}
        for item, state, _, _ in rows:
            states.setdefault(item, set()).add(state)
        keys = sorted({(t, k) for _, _, t, k in rows})
        signal_ids: list[int] = []
        if keys:
            bank_id = session.scalar(select(Bank.id).where(Bank.name == self._policy.bank))
            if bank_id is not None:
                signal_ids = list(
                    session.scalars(
                        select(BankSignal.id).where(
                            BankSignal.bank_id == bank_id,
                            tuple_(BankSignal.signal_type, BankSignal.lookup_key).in_(keys),
                        )
                    )
                )
        return CaseStatus(
            reference=case.reference,
            age_band=rules.AgeBand(case.age_band),
            items=case.items,
            shared=sum(1 for s in states.values() if s == {SHARED}),
            held=sum(1 for s in states.values() if REVIEW in s),
            stopped=stopped_copies(session, signal_ids),
            created_at=case.created_at,
            withdrawn_at=case.withdrawn_at,
        )


def items_from_json(text: str) -> list[object]:
    """The items a page's form carries as JSON (what hashing.js computed), or CaseRefused."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        raise CaseRefused("items", "invalid_json", "the hashes could not be read") from None
    if not isinstance(items, list):
        raise CaseRefused("items", "invalid_json", "the hashes could not be read")
    return items
