"""The hot path of ``GET /m/lookup``, answered before FastAPI's middleware and routing when it
can be.

A partner's PDQ lookup is the API's busiest call, and most of its cost through FastAPI is the
framework's (its middleware, routing, resolving dependencies, building a request), not the
search. This ASGI layer, the outermost of the web application (see ``app.web``), answers one
such lookup directly when every part of the answer is already in memory:

- the query has ``signal_type`` and ``signal`` once each, no ``url``, no ``bypass_coinflip``
  and every parameter within its documented length; the request has no body;
- the signal parses (the same ``signal_query`` as the route);
- the key's scope is remembered (PartnerKeys, within the staleness bound);
- the matcher answers from memory (``Matcher.match_in_memory``: refreshed; a hit, on any
  signal the index holds, is answered as the index, its signals' banks and the enabled banks
  stood at the last refresh, so within the staleness bound);
- the process's lease of the partner's quota holds a unit (``LeasedQuota.take_held``), taken
  last, so that a request handed on to the route has spent nothing here.

Anything else — an error, a key not seen lately, a matcher not refreshed (yet), a spent
lease, anything that raises here — is handed on to the application unchanged, which
answers it as before (``hma_routes.lookup``). The answer here is the route's byte for byte
(``hma_routes.lookup_answer``), with the security headers every answer carries; the access log
(outside) names the route's path.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from tarcza.hashing.hma_routes import lookup_answer, partner_banks
from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import LookupQuota, PartnerKeys
from tarcza.hashing.routes import signal_query
from tarcza.hashing.schemas import MatchRequestRejected
from tarcza.services import Services
from tarcza.web.answers import RouteTemplate, send_json

PATH: Final = "/m/lookup"
#: The route's parameters and their maximum lengths; others are ignored there, as here.
_LENGTHS: Final = {"signal_type": 32, "signal": 20_000, "banks": 5000, "seed": 200}
_HANDED_ON: Final = frozenset({"url", "bypass_coinflip"})
_BODY_HEADERS: Final = frozenset({b"content-length", b"transfer-encoding"})

log = logging.getLogger("tarcza.fast_lookup")


_ROUTE: Final = RouteTemplate(PATH)


class LookupFastPath:
    """ASGI middleware: answers the ``GET /m/lookup`` it can from memory (see the module).

    ``headers``: added to every answer given here (the security headers).
    """

    def __init__(
        self, app: ASGIApp, *, services: Services, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.app = app
        self._keys = services.get(PartnerKeys)
        self._matcher = services.get(Matcher)
        self._quota = services.get(LookupQuota)
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            try:
                answer = self._answer(scope)
            except Exception:  # the application answers it, or says what went wrong
                log.exception("the lookup fast path failed; handed on")
                answer = None
            if answer is not None:
                body, withheld = answer
                scope["route"] = _ROUTE
                suppressed = (b"x-tarcza-suppressed-matches", str(withheld).encode())
                await send_json(send, body, headers=[suppressed, *self._headers])
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> tuple[bytes, int] | None:
        """The body and withheld count of a lookup answered from memory, or None to hand it
        on."""
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name in _BODY_HEADERS:
                return None
        key = bearer_key(authorization) if authorization is not None else None
        partner = self._keys.remembered(key) if key else None
        if partner is None:
            return None
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs) or _HANDED_ON & params.keys():
            return None
        if any(len(params.get(name, "")) > most for name, most in _LENGTHS.items()):
            return None
        signal_type, signal = params.get("signal_type"), params.get("signal")
        if not signal or not signal_type:
            return None
        try:
            query = signal_query(signal_type, signal, ["query"])
        except MatchRequestRejected:
            return None
        scope_ids = partner_banks(partner, params.get("banks"))
        results = self._matcher.match_in_memory([[query]], scope=scope_ids)
        if results is None:
            return None
        if not self._quota.take_held(str(partner.id), 1):
            return None
        return lookup_answer(results[0]), results[0].withheld


def bearer_key(value: bytes) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header's value, or None."""
    scheme, _, key = value.decode("latin-1").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None
