"""Errors turned into HTTP answers in one place: the bases of ``tarcza.errors``, the framework's.

API paths (``/api/``, and HMA's ``/m/``) answer JSON; pages answer HTML in the reader's language.
No error answer echoes the submitted input back. This module knows no concept: each concept's
errors subclass a base and carry their own API sentence (``detail``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from tarcza.errors import Conflict, Denied, NotFound, Refused, Throttled, Unauthenticated
from tarcza.web.render import render

log = logging.getLogger("tarcza.web")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/m/"))


def _is_hma(request: Request) -> bool:
    return request.url.path.startswith("/m/")


def _clean(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", [])),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str:
    """Every method the path answers to, over all its operations.

    Two operations on one path (GET and POST /api/v1/helpline/contacts) are two routes; a
    method neither has is refused by the first, whose ``Allow`` names its own method only.
    """
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]  # any method
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def _page_error(request: Request, status: int, message: str | None = None) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def _api(request: Request, detail: Any, message: str, status: int, **headers: str) -> Response:
    """HMA's clients read ``message`` (its /m/ error shape); tarcza's read ``detail``."""
    body = {"message": message, "detail": detail} if _is_hma(request) else {"detail": detail}
    return JSONResponse(body, status_code=status, headers=headers or None)


def answerer(app: FastAPI) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The answer ``app``'s handlers give to an exception (the handler of the nearest class in
    its MRO, as the framework picks it), for an ASGI layer outside the framework."""

    async def answer(request: Request, exc: Exception) -> Response:
        for kind in type(exc).__mro__:
            handler = app.exception_handlers.get(kind)
            if handler is not None:
                answered = (
                    await handler(request, exc)
                    if is_async_callable(handler)
                    else await run_in_threadpool(handler, request, exc)
                )
                assert isinstance(answered, Response)
                return answered
        raise exc

    return answer


def install(app: FastAPI) -> None:
    """Register every error handler on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> Response:
        if _is_hma(request):
            # HMA answers its validation list bare, each place named without "query".
            return JSONResponse(
                [{**e, "loc": e["loc"][1:] or e["loc"]} for e in _clean(exc.errors())],
                status_code=422,
            )
        return JSONResponse({"detail": _clean(exc.errors())}, status_code=422)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        if _is_api(request):
            detail = [{"loc": loc, "msg": msg, "type": code} for loc, code, msg in exc.problems]
            # HMA answers 400 to a bad query; tarcza's API answers 422 like its other validation.
            return _api(request, detail, exc.message, 400 if _is_hma(request) else 422)
        return _page_error(request, 422, exc.message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _is_api(request):
            return _api(request, exc.detail, exc.detail, 404)
        return _page_error(request, 404)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        if _is_api(request):
            return _api(request, exc.detail, exc.detail, 403)
        return _page_error(request, 403, exc.page_message)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        if _is_api(request):
            return _api(request, exc.detail, exc.detail, 409)
        return _page_error(request, 409)

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled) -> Response:
        retry = str(exc.retry_after)
        if _is_api(request):
            if exc.extra and not _is_hma(request):
                return JSONResponse(
                    {"detail": exc.detail, **exc.extra},
                    status_code=429,
                    headers={"Retry-After": retry},
                )
            return _api(request, exc.detail, exc.detail, 429, **{"Retry-After": retry})
        response = _page_error(request, 429)
        response.headers["Retry-After"] = retry
        return response

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        if exc.page_redirect is not None and not _is_api(request):
            return RedirectResponse(exc.page_redirect, status_code=303)
        challenge = {"WWW-Authenticate": exc.challenge} if exc.challenge else {}
        return _api(request, exc.detail, exc.detail, 401, **challenge)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and "Allow" in headers:  # a route's, not a static file's
            headers["Allow"] = _allowed(request) or headers["Allow"]
        if _is_api(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=headers
            )
        response = _page_error(request, exc.status_code)
        response.headers.update(headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _is_api(request):
            return JSONResponse({"detail": "Internal error. The request was not completed."}, 500)
        return _page_error(request, 500)
