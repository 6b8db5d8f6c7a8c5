"""The partner lookup API: ``POST /api/v1/match`` and Meta HMA's ``/m/lookup`` shapes.

A platform already calling HMA's matcher can switch to tarcza by changing its base URL: the
``/m/raw_lookup`` and ``/m/lookup`` query parameters and answers follow HMA's
(OpenMediaMatch/blueprints/matching.py), and the key goes in ``Authorization: Bearer``, as HMA
deployments that require a key expect.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from tarcza.crypto import KeyRing
from tarcza.hashing import banks, feed
from tarcza.hashing.matcher import ItemResult, Matcher, SignalQuery
from tarcza.hashing.partners import LookupQuota, PartnerScope, authenticate
from tarcza.hashing.schemas import (
    ChangeOut,
    FeedbackIn,
    FeedbackOut,
    FeedOut,
    MatchOut,
    MatchRequest,
    MatchRequestRejected,
    MatchResponse,
    PartnerUnauthorized,
    RateLimited,
    SignalResult,
)
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1", tags=["matching"])
hma_router = APIRouter(prefix="/m", tags=["matching (HMA-compatible)"])

Db = Annotated[Database, Depends(provided(Database))]
Keys = Annotated[KeyRing, Depends(provided(KeyRing))]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown one (of any length)."},
    429: {"description": "Too many lookups; see Retry-After."},
}
# HMA answers 400, with ``message``, to a query it cannot use (web/errors.py).
_HMA_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"description": "A parameter is missing or wrong: message and detail say which."},
}


def current_partner(
    db: Db, keyring: Keys, authorization: Annotated[str | None, Header()] = None
) -> PartnerScope:
    """FastAPI dependency: the partner whose ``Authorization: Bearer <key>`` this is.

    No length limit on the header here: a key of any length that is not a partner's is a
    401, as documented (``authenticate`` refuses one over MAX_KEY_LENGTH unhashed; the server
    caps header size).
    """
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise PartnerUnauthorized()
    with db.sessions() as session:
        scope = authenticate(session, keyring, key.strip())
    if scope is None:
        raise PartnerUnauthorized()
    return scope


def optional_partner(
    db: Db, keyring: Keys, authorization: Annotated[str | None, Header()] = None
) -> PartnerScope | None:
    """FastAPI dependency: the partner whose key this is, None when no key is sent (an
    unknown or malformed key is still a 401)."""
    if authorization is None:
        return None
    return current_partner(db, keyring, authorization)


Partner = Annotated[PartnerScope, Depends(current_partner)]
Matching = Annotated[Matcher, Depends(provided(Matcher))]
Limiter = Annotated[LookupQuota, Depends(provided(LookupQuota))]


def _spend(limiter: LookupQuota, partner: PartnerScope, cost: int) -> None:
    wait = limiter.take(str(partner.id), cost)
    if wait:
        raise RateLimited(wait)


def _query(signal_type: str, signal: str, loc: list[str | int]) -> SignalQuery:
    """A canonical query, or MatchRequestRejected naming the field at fault."""
    try:
        kind = banks.parse_signal_type(signal_type)
    except banks.InvalidSignal as exc:
        raise MatchRequestRejected([([*loc, "signal_type"], exc.code, exc.message)]) from None
    try:
        return SignalQuery(kind, banks.normalise_signal(kind, signal))
    except banks.InvalidSignal as exc:
        raise MatchRequestRejected([([*loc, "signal"], exc.code, exc.message)]) from None


@router.post(
    "/match",
    response_model=MatchResponse,
    summary="Look up a batch of signals",
    responses={
        **_ERRORS,
        400: {"description": "The body is not JSON text (e.g. not UTF-8)."},
        413: {"description": "The body is larger than the limit."},
        422: {"description": "A signal type or a signal is wrong."},
    },
)
def match_batch(
    body: MatchRequest, partner: Partner, matcher: Matching, limiter: Limiter
) -> MatchResponse:
    """Match up to 1000 signals against the banks this key may see; one result per signal."""
    _spend(limiter, partner, len(body.signals))
    queries: list[SignalQuery] = []
    problems: list[tuple[list[str | int], str, str]] = []
    for i, item in enumerate(body.signals):
        try:
            queries.append(_query(item.signal_type, item.signal, ["body", "signals", i]))
        except MatchRequestRejected as exc:
            problems.extend(exc.problems)
    if problems:
        raise MatchRequestRejected(problems)
    answers = matcher.match([[q] for q in queries], scope=partner.bank_ids)
    return MatchResponse(
        results=[
            SignalResult(
                signal_type=q.signal_type.value,
                signal=q.value,
                matches=[MatchOut.of(m) for m in answer.matches],
            )
            for q, answer in zip(queries, answers, strict=True)
        ]
    )


def _hma_lookup(
    matcher: Matcher,
    partner: PartnerScope,
    signal_type: str | None,
    signal: str | None,
    banks_param: str | None,
) -> ItemResult:
    if signal is None:
        raise MatchRequestRejected([(["query", "signal"], "missing", "signal is required")])
    if signal_type is None:
        raise MatchRequestRejected(
            [(["query", "signal_type"], "missing", "signal_type is required")]
        )
    query = _query(signal_type, signal, ["query"])
    scope = partner.bank_ids
    if banks_param:
        # Names outside the partner's scope are dropped silently, exactly like unknown names.
        wanted = {name.strip() for name in banks_param.split(",")}
        scope = frozenset(i for name, i in partner.banks.items() if name in wanted)
    return matcher.match([[query]], scope=scope)[0]


def _flag(name: str, value: str | None) -> bool:
    if value is None or value.lower() in ("false", "0"):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise MatchRequestRejected(
        [(["query", name], "invalid_boolean", "invalid boolean parameter - prefer true/false")]
    )


@hma_router.get("/raw_lookup", summary="HMA raw lookup", responses=_HMA_ERRORS)
def raw_lookup(
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    signal_type: Annotated[str | None, Query(max_length=32)] = None,
    signal: Annotated[str | None, Query(max_length=20_000)] = None,
    include_distance: Annotated[str | None, Query(max_length=8)] = None,
    banks_param: Annotated[str | None, Query(alias="banks", max_length=5000)] = None,
) -> dict[str, Any]:
    """HMA's ``{"matches": [id, ...]}``, or with ``include_distance=true``
    ``{"matches": [{"bank_content_id": id, "distance": "4"}, ...]}``."""
    with_distance = _flag("include_distance", include_distance)
    _spend(limiter, partner, 1)
    result = _hma_lookup(matcher, partner, signal_type, signal, banks_param)
    if with_distance:
        return {
            "matches": [
                {"bank_content_id": m.signal_id, "distance": str(m.distance)}
                for m in result.matches
            ]
        }
    return {"matches": [m.signal_id for m in result.matches]}


@hma_router.get("/lookup", summary="HMA lookup", responses=_HMA_ERRORS)
def lookup(
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    signal_type: Annotated[str | None, Query(max_length=32)] = None,
    signal: Annotated[str | None, Query(max_length=20_000)] = None,
    banks_param: Annotated[str | None, Query(alias="banks", max_length=5000)] = None,
    url: Annotated[str | None, Query(max_length=4096)] = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: Annotated[str | None, Query(max_length=8)] = None,
) -> dict[str, list[dict[str, Any]]]:
    """HMA's ``{"BANK_NAME": [{"bank_content_id": id, "distance": "4"}, ...], ...}``.

    ``seed`` and ``bypass_coinflip`` are accepted and have no effect: every enabled bank
    matches fully here. Looking up by ``url`` is not offered (tarcza fetches nothing).
    """
    _flag("bypass_coinflip", bypass_coinflip)
    if url is not None:
        message = "url lookups are not offered: send signal_type and signal"
        raise MatchRequestRejected([(["query", "url"], "unsupported", message)])
    _spend(limiter, partner, 1)
    result = _hma_lookup(matcher, partner, signal_type, signal, banks_param)
    answer: dict[str, list[dict[str, Any]]] = {}
    for m in result.matches:
        answer.setdefault(m.bank, []).append(
            {"bank_content_id": m.signal_id, "distance": str(m.distance)}
        )
    return answer


@router.get(
    "/banks/{name}/changes",
    response_model=FeedOut,
    summary="Read a bank's changes",
    responses={
        **_ERRORS,
        404: {"description": "No bank of this name that this key may read."},
        422: {"description": "The cursor or the limit is not one this feed gives."},
    },
)
def bank_changes(
    name: str,
    db: Db,
    partner: Partner,
    limiter: Limiter,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_PAGE)] = feed.DEFAULT_PAGE,
) -> FeedOut:
    """Additions and removals in one of the key's banks, in order, after ``cursor``.

    Keep ``next_cursor`` and pass it next time: a removal is never missed. A bank outside the
    key's scope does not exist for it (404).
    """
    _spend(limiter, partner, 1)
    bank_id = partner.banks.get(name)
    if bank_id is None:
        raise feed.NoSuchBank()
    with db.sessions() as session:
        page = feed.read_changes(session, bank_id, name, cursor, limit)
    return FeedOut(
        bank=page.bank,
        changes=[ChangeOut(**vars(c)) for c in page.changes],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    summary="Say what was done about matches",
    responses={
        **_ERRORS,
        400: {"description": "The body is not JSON text (e.g. not UTF-8)."},
        413: {"description": "The body is larger than the limit."},
        422: {"description": "The signal is malformed, or no bank of the key holds it."},
    },
)
def feedback(body: FeedbackIn, db: Db, partner: Partner, limiter: Limiter) -> FeedbackOut:
    """Record what the platform did about matches of a signal, and how many times.

    Only counts: never the content, never who uploaded it.
    """
    _spend(limiter, partner, 1)
    with db.transaction() as session:
        recorded = feed.record_feedback(
            session,
            partner.id,
            partner.bank_ids,
            body.signal_type,
            body.signal,
            body.action,
            body.count,
            utcnow(),
        )
    return FeedbackOut(recorded=recorded)
