"""The hot path of ``POST /api/v1/match`` (a batch of signals), answered before FastAPI's
middleware and routing when it can be (issue 16).

Through FastAPI a batch pays for the framework (validating the body into a model per signal,
resolving dependencies, routing) besides its search; at 1M hashes the search is most of the
cost (about 75 % of a batch's CPU without the framework; see bench/README.md). This ASGI
layer, outside the application like ``hashing.fast_lookup``, answers a batch itself when:

- the request is ``application/json`` with a ``Content-Length`` within the JSON limit and a
  partner key whose scope is remembered (PartnerKeys, within the staleness bound);
- the body is exactly what ``MatchRequest`` accepts (read with ``json.loads``, as the framework
  reads it), and every signal parses (the route's ``signal_query``);
- every signal is PDQ.

The quota is then charged first, as the route charges it (``LookupQuota.take``: N units for N
signals, before any search): from the process's lease on the event loop, else from the shared
store in a worker thread; a refusal is answered with the application's own 429, having searched
nothing. From then on the batch is answered here (the route would charge it again), by
``Matcher.match`` as the route answers it: every hash searched in one index call, and only when
some signal has a candidate, one database round trip checking those candidates (the label read
there). A failure there is the application's answer to it (a 500), as the route's would be.
(Until 2026-12-04 the batch was searched in memory first and its signals with matches searched
again by ``Matcher.match``: two searches and the same round trip.)

The search (which releases the GIL) and that check run in one worker thread, as the route runs,
so that the event loop reads and writes other requests meanwhile.

Anything else — bad JSON, a bad signal, an unknown key, another signal type (the exact types
are looked up in the database), or the store failing to charge the quota — is handed on to the
application unchanged, having spent nothing (what was read of the body is replayed), which
answers it as before (``routes.match_batch``). The answer here is the route's
byte for byte, with the security headers every answer carries; the access log (outside) names
the route's path. ``answered`` counts the batches answered here.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tarcza.hashing.banks import SignalType
from tarcza.hashing.fast_lookup import bearer_key
from tarcza.hashing.matcher import ItemResult, Matcher, SignalQuery
from tarcza.hashing.partners import LookupQuota, PartnerKeys, PartnerScope
from tarcza.hashing.routes import match_answer, signal_query
from tarcza.hashing.schemas import (
    MAX_BATCH,
    MAX_SIGNAL_LENGTH,
    MatchRequestRejected,
    RateLimited,
)
from tarcza.services import Services
from tarcza.web.answers import (
    ErrorAnswer,
    RouteTemplate,
    plain_json_within,
    read_body,
    replaying,
    send_error,
    send_json,
)

PATH: Final = "/api/v1/match"
_SIGNAL_KEYS: Final = frozenset({"signal_type", "signal"})
_MAX_TYPE_LENGTH: Final = 32  # SignalIn.signal_type's max_length
_REFUSED: Final = frozenset({b"transfer-encoding"})

log = logging.getLogger("tarcza.fast_match")


_ROUTE: Final = RouteTemplate(PATH)


class MatchFastPath:
    """ASGI middleware: answers the ``POST /api/v1/match`` batches it can (see the module).

    ``headers``: added to every answer given here (the security headers); ``answer_error``: the
    application's answer to an exception; ``max_json_bytes``: the JSON body limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Services,
        headers: list[tuple[bytes, bytes]],
        answer_error: ErrorAnswer,
        max_json_bytes: int,
    ) -> None:
        self.app = app
        self._keys = services.get(PartnerKeys)
        self._matcher = services.get(Matcher)
        self._quota = services.get(LookupQuota)
        self._headers = headers
        self._answer_error = answer_error
        self._limit = max_json_bytes
        #: Batches answered here (not handed on), for tests and diagnostics.
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        partner = self._partner(scope)
        if partner is None:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = await read_body(receive, received, self._limit)
        queries: list[SignalQuery] | None = None
        if body is not None:
            try:
                queries = _batch(json.loads(body))
            except Exception:  # the application answers it, or says what went wrong
                log.exception("the match fast path could not read a batch; handed on")
        if queries is None:  # the route answers it, from the same bytes
            await self.app(scope, replaying(received, receive), send)
            return
        # The quota first, as the route spends it: a refused batch costs no search.
        identity = str(partner.id)
        if not self._quota.take_held(identity, len(queries)):
            try:
                wait = await anyio.to_thread.run_sync(self._quota.take, identity, len(queries))
            except Exception:  # the store failed (counting nothing): the route says so
                log.exception("the match fast path could not spend the quota; handed on")
                await self.app(scope, replaying(received, receive), send)
                return
            if wait:
                scope["route"] = _ROUTE
                await self._error(scope, replaying(received, receive), send, RateLimited(wait))
                return
        # Spent: answered here from now on (the route would spend it again).
        self.answered += 1
        scope["route"] = _ROUTE
        try:
            # The search releases the GIL: in a worker thread (as the route's), the event
            # loop reads and writes other requests meanwhile.
            results = await anyio.to_thread.run_sync(self._results, queries, partner.bank_ids)
            content = match_answer(queries, results)
        # As the route fails: the application's answer to it (its handler logs it).
        except Exception as exc:  # noqa: BLE001
            await self._error(scope, replaying(received, receive), send, exc)
            return
        await send_json(send, content, headers=self._headers)

    def _partner(self, scope: Scope) -> PartnerScope | None:
        """The remembered partner of a plain JSON request within the limit, or None."""
        if not plain_json_within(scope, self._limit, _REFUSED):
            return None
        authorization = next((v for n, v in scope["headers"] if n == b"authorization"), None)
        key = bearer_key(authorization) if authorization is not None else None
        return self._keys.remembered(key) if key else None

    def _results(self, queries: list[SignalQuery], scope: frozenset[int]) -> list[ItemResult]:
        """The route's results for ``queries``, asked as the route asks them."""
        return self._matcher.match([[q] for q in queries], scope=scope)

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """The application's answer to ``exc``, with the security headers."""
        await send_error(
            scope, receive, send, exc, answer_error=self._answer_error, headers=self._headers
        )


def _batch(body: Any) -> list[SignalQuery] | None:
    """The PDQ queries of a body ``MatchRequest`` accepts, every signal valid, or None."""
    if type(body) is not dict or body.keys() != {"signals"}:
        return None
    signals = body["signals"]
    if type(signals) is not list or not 1 <= len(signals) <= MAX_BATCH:
        return None
    queries: list[SignalQuery] = []
    for item in signals:
        if type(item) is not dict or item.keys() != _SIGNAL_KEYS:
            return None
        signal_type, signal = item["signal_type"], item["signal"]
        if type(signal_type) is not str or type(signal) is not str:
            return None
        if len(signal_type) > _MAX_TYPE_LENGTH or len(signal) > MAX_SIGNAL_LENGTH:
            return None
        try:
            query = signal_query(signal_type, signal, ["body"])
        except MatchRequestRejected:
            return None
        if query.signal_type is not SignalType.PDQ:
            return None
        queries.append(query)
    return queries
