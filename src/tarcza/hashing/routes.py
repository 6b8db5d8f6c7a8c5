"""The partner lookup API: ``POST /api/v1/match``, a bank's changes and feedback.

HMA's ``/m/`` shapes are in :mod:`tarcza.hashing.hma_routes`; both authenticate the partner
and spend its lookup quota with the dependencies here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Response

from tarcza.hashing import banks, feed
from tarcza.hashing.matcher import ItemResult, Match, Matcher, SignalQuery
from tarcza.hashing.partners import LookupQuota, PartnerKeys, PartnerScope
from tarcza.hashing.schemas import (
    ChangeOut,
    FeedbackIn,
    FeedbackOut,
    FeedOut,
    MatchRequest,
    MatchRequestRejected,
    MatchResponse,
    PartnerUnauthorized,
    RateLimited,
)
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1", tags=["matching"])

Db = Annotated[Database, Depends(provided(Database))]
PartnerKeyring = Annotated[PartnerKeys, Depends(provided(PartnerKeys))]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown one (of any length)."},
    429: {"description": "Too many lookups; see Retry-After."},
}


async def current_partner(
    keys: PartnerKeyring, authorization: Annotated[str | None, Header()] = None
) -> PartnerScope:
    """FastAPI dependency: the partner whose ``Authorization: Bearer <key>`` this is.

    No length limit on the header here: a key of any length that is not a partner's is a
    401, as documented (``authenticate`` refuses one over MAX_KEY_LENGTH unhashed; the server
    caps header size). A key seen within the cache's bound is answered from memory on the
    event loop (see PartnerKeys); otherwise the database is asked from a worker thread.
    """
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise PartnerUnauthorized()
    scope = keys.remembered(key)
    if scope is None:
        scope = await anyio.to_thread.run_sync(keys.authenticate, key)
    if scope is None:
        raise PartnerUnauthorized()
    return scope


async def optional_partner(
    keys: PartnerKeyring, authorization: Annotated[str | None, Header()] = None
) -> PartnerScope | None:
    """FastAPI dependency: the partner whose key this is, None when no key is sent (an
    unknown or malformed key is still a 401)."""
    if authorization is None:
        return None
    return await current_partner(keys, authorization)


Partner = Annotated[PartnerScope, Depends(current_partner)]
Matching = Annotated[Matcher, Depends(provided(Matcher))]
Limiter = Annotated[LookupQuota, Depends(provided(LookupQuota))]


def spend(limiter: LookupQuota, partner: PartnerScope, cost: int) -> None:
    wait = limiter.take(str(partner.id), cost)
    if wait:
        raise RateLimited(wait)


async def spend_async(limiter: LookupQuota, partner: PartnerScope, cost: int) -> None:
    """``spend`` for a coroutine: from the process's lease on the event loop, and from the
    shared store (a database round trip) in a worker thread only when the lease is spent."""
    if not limiter.take_held(str(partner.id), cost):
        await anyio.to_thread.run_sync(spend, limiter, partner, cost)


def signal_query(signal_type: str, signal: str, loc: list[str | int]) -> SignalQuery:
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
        **ERRORS,
        400: {"description": "The body is not JSON text (e.g. not UTF-8)."},
        413: {"description": "The body is larger than the limit."},
        422: {"description": "A signal type or a signal is wrong."},
    },
)
def match_batch(
    body: MatchRequest, partner: Partner, matcher: Matching, limiter: Limiter
) -> Response:
    """Match up to 1000 signals against the banks this key may see; one result per signal."""
    spend(limiter, partner, len(body.signals))
    queries: list[SignalQuery] = []
    problems: list[tuple[list[str | int], str, str]] = []
    for i, item in enumerate(body.signals):
        try:
            queries.append(signal_query(item.signal_type, item.signal, ["body", "signals", i]))
        except MatchRequestRejected as exc:
            problems.extend(exc.problems)
    if problems:
        raise MatchRequestRejected(problems)
    answers = matcher.match([[q] for q in queries], scope=partner.bank_ids)
    return Response(match_answer(queries, answers), media_type="application/json")


def match_answer(queries: Sequence[SignalQuery], answers: Sequence[ItemResult]) -> bytes:
    """MatchResponse's JSON for ``answers`` to ``queries``, written directly: no model per
    signal, nor validated again (the fast path, ``hashing.fast_match``, writes it too)."""
    results = [
        {
            "signal_type": q.signal_type.value,
            "signal": q.value,
            "matches": [match_out(m) for m in answer.matches],
            "suppressed_matches": answer.withheld,
        }
        for q, answer in zip(queries, answers, strict=True)
    ]
    return json.dumps({"results": results}, ensure_ascii=False, separators=(",", ":")).encode()


def match_out(match: Match) -> dict[str, Any]:
    """``MatchOut.of(match)`` as the dict of its JSON (its fields, in its order)."""
    return {
        "bank": match.bank,
        "label": match.label,
        "source": match.source,
        "signal_type": match.signal_type.value,
        "signal": match.signal,
        "distance": match.distance,
        "bank_content_id": match.signal_id,
        "query_match_pct": match.query_match_pct,
        "compared_match_pct": match.compared_match_pct,
    }


@router.get(
    "/banks/{name}/changes",
    response_model=FeedOut,
    summary="Read a bank's changes",
    responses={
        **ERRORS,
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
    spend(limiter, partner, 1)
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
        **ERRORS,
        400: {"description": "The body is not JSON text (e.g. not UTF-8)."},
        413: {"description": "The body is larger than the limit."},
        422: {"description": "The signal is malformed, or no bank of the key holds it."},
    },
)
def feedback(body: FeedbackIn, db: Db, partner: Partner, limiter: Limiter) -> FeedbackOut:
    """Record what the platform did about matches of a signal, and how many times.

    Only counts: never the content, never who uploaded it.
    """
    spend(limiter, partner, 1)
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
