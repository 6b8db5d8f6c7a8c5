"""The hot path of ``POST /api/v1/reports`` with a JSON body, taken before FastAPI's middleware,
routing and dependencies (issue 16).

Most of a plain report's cost through FastAPI is the framework's (a dozen middleware layers,
routing, resolving dependencies, building a request), not the report's. This ASGI layer, outside
the application like ``hashing.fast_lookup``, takes the commonest request itself: a public
client's report as ``application/json``, with a ``Content-Length`` within the JSON limit, no
``Authorization`` (a partner's key goes the route's way) and no ``Idempotency-Key``. It does what
the route does, in the same order:

- the limits on new reports are checked before the body is read (a worker thread only when a
  limit applies), counting nothing;
- the body is read and validated (``ReportIn``, the route's model), then submitted in one worker
  thread (``IntakeService.submit``): acknowledged only after the commit. The thread is one of
  this module's pool (asyncio's ``run_in_executor``): anyio's ``run_in_threadpool`` cost some
  50 us of CPU per call (cancel scopes, its queue's condition), the pool 15-20 us. The pool is
  small (``Settings.intake_threads``, 3 by default): reports beyond it wait in the process, not
  at the database, where every report's audit entry queues for the chain's lock (with 40
  threads a process, 500 reports/s over 64 connections kept 13 backends waiting on that lock
  on average, p99 0.9-1.1 s; with 3, p99 32-65 ms: bench/README.md);
- the answer is the route's byte for byte (201, ``ReportCreated``'s JSON), with the security
  headers every answer carries; the access log (outside) names the route's path.

A body that does not validate, is larger than declared, or anything unusual is handed on to the
application unchanged (what was read of the body is replayed), which answers it as before (the
route checks the limits again, then answers 422 or 413). An error raised by the service (a limit,
a refused report, a failure) is answered by the application's own error handlers, as the route's
would be.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Final, TypeVar

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tarcza.intake.rules import client_network
from tarcza.intake.schemas import ReportCreated, ReportIn
from tarcza.intake.service import IntakeService, NewReport, Receipt, Reporter
from tarcza.web.answers import (
    ErrorAnswer,
    RouteTemplate,
    plain_json_within,
    read_body,
    replaying,
    send_error,
    send_json,
)

PATH: Final = "/api/v1/reports"
#: Headers that send a request the route's way (a partner's key; a retry's key; a stream).
_HANDED_ON: Final = frozenset({b"authorization", b"idempotency-key", b"transfer-encoding"})

# The threads that submit reports, one pool per size (made on first use, shared by every
# application of the process: tests make many).
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_T = TypeVar("_T")


def _pool(threads: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="tarcza-report")
        return _pools[threads]


_ROUTE: Final = RouteTemplate(PATH)


class ReportFastPath:
    """ASGI middleware: takes the plain JSON reports it can (see the module), hands on the rest.

    ``headers``: added to every answer given here (the security headers); ``answer_error``: the
    application's answer to an exception; ``max_json_bytes``: the JSON body limit;
    ``threads``: how many reports the process submits at once (``Settings.intake_threads``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        intake: IntakeService,
        headers: list[tuple[bytes, bytes]],
        answer_error: ErrorAnswer,
        max_json_bytes: int,
        threads: int,
    ) -> None:
        self.app = app
        self._intake = intake
        self._pool = _pool(threads)
        self._headers = headers
        self._answer_error = answer_error
        self._limit = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or not plain_json_within(scope, self._limit, _HANDED_ON)
        ):
            await self.app(scope, receive, send)
            return
        intake = self._intake
        client = scope.get("client")
        reporter = Reporter(network=client_network(str(client[0]) if client else ""))
        try:
            if intake.limits_reports_of(reporter):
                await self._in_thread(intake.check_report_rate, reporter)
        except Exception as exc:  # noqa: BLE001 - answered by the application's handlers
            await self._error(scope, receive, send, exc)
            return
        received: list[Message] = []
        new = await self._report(receive, received)
        if new is None:  # the route answers it, from the same bytes
            await self.app(scope, replaying(received, receive), send)
            return
        try:
            receipt = await self._in_thread(intake.submit, new, (), None, reporter)
        except Exception as exc:  # noqa: BLE001 - answered by the application's handlers
            await self._error(scope, receive, send, exc)
            return
        await self._created(scope, send, receipt)

    async def _in_thread(self, func: Callable[..., _T], *args: object) -> _T:
        """``func(*args)`` in one of the report threads (waiting for one when all are busy)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(func, *args))

    async def _report(self, receive: Receive, received: list[Message]) -> NewReport | None:
        """The report in the body, or None to hand the request on (every message read is kept
        in ``received``)."""
        body = await read_body(receive, received, self._limit)
        if body is None:
            return None
        try:
            return ReportIn.model_validate_json(body).to_new_report("api")
        except ValidationError:
            return None

    async def _created(self, scope: Scope, send: Send, receipt: Receipt) -> None:
        created = ReportCreated(reference=receipt.reference, pin=receipt.pin, status=receipt.status)
        body = created.model_dump_json().encode()
        scope["route"] = _ROUTE
        await send_json(send, body, status=201, headers=self._headers)

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """The application's answer to ``exc``, with the security headers."""
        scope["route"] = _ROUTE
        await send_error(
            scope, receive, send, exc, answer_error=self._answer_error, headers=self._headers
        )
