"""The hot path of ``GET /m/lookup``, answered before FastAPI's routing when it can be.

A partner's PDQ lookup is the API's busiest call, and most of its cost through FastAPI is the
framework's (routing, resolving dependencies, building a request), not the search. This ASGI
layer answers one such lookup directly when every part of the answer is already in memory:

- the query has ``signal_type`` and ``signal`` once each, no ``url``, no ``bypass_coinflip``
  and every parameter within its documented length;
- the signal parses (the same ``signal_query`` as the route);
- the key's scope is remembered (PartnerKeys, within the staleness bound);
- the matcher is refreshed and the search finds no candidate (``Matcher.match_in_memory``);
- the process's lease of the partner's quota holds a unit (``LeasedQuota.take_held``), taken
  last, so that a request handed on to the route has spent nothing here.

Anything else — an error, a hit, a key not seen lately, a spent lease — is handed on to the
route unchanged, which answers it as before (``hma_routes.lookup``). The answer here is the
route's byte for byte: ``{}`` and ``X-Tarcza-Suppressed-Matches: 0``; the outer middleware add
the security headers and the access log as to any answer.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from tarcza.hashing.matcher import Matcher
from tarcza.hashing.partners import LookupQuota, PartnerKeys
from tarcza.hashing.routes import signal_query
from tarcza.hashing.schemas import MatchRequestRejected
from tarcza.services import Services

PATH: Final = "/m/lookup"
#: The route's parameters and their maximum lengths; others are ignored there, as here.
_LENGTHS: Final = {"signal_type": 32, "signal": 20_000, "banks": 5000, "seed": 200}
_HANDED_ON: Final = frozenset({"url", "bypass_coinflip"})


class LookupFastPath:
    """ASGI middleware: answers the ``GET /m/lookup`` it can from memory (see the module)."""

    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self._keys = services.get(PartnerKeys)
        self._matcher = services.get(Matcher)
        self._quota = services.get(LookupQuota)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            withheld = self._answer(scope)
            if withheld is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", b"2"),
                            (b"content-type", b"application/json"),
                            (b"x-tarcza-suppressed-matches", str(withheld).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b"{}"})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> int | None:
        """The withheld count of a lookup answered with no match, or None to hand it on."""
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs) or _HANDED_ON & params.keys():
            return None
        if any(len(params.get(name, "")) > most for name, most in _LENGTHS.items()):
            return None
        signal_type, signal = params.get("signal_type"), params.get("signal")
        if not signal or not signal_type:
            return None
        key = _bearer(scope)
        partner = self._keys.remembered(key) if key else None
        if partner is None:
            return None
        try:
            query = signal_query(signal_type, signal, ["query"])
        except MatchRequestRejected:
            return None
        banks = params.get("banks")
        if banks:
            wanted = {name.strip() for name in banks.split(",")}
            bank_ids = frozenset(i for name, i in partner.banks.items() if name in wanted)
        else:
            bank_ids = partner.bank_ids
        results = self._matcher.match_in_memory([[query]], scope=bank_ids)
        if results is None or results[0].matches:
            return None
        if not self._quota.take_held(str(partner.id), 1):
            return None
        return results[0].withheld


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None
