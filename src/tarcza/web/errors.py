"""Domain errors and framework errors turned into HTTP answers, in one place.

API paths (``/api/``) answer JSON; pages answer HTML in the reader's language.
No error answer echoes the submitted input back.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from tarcza.accounts.access import CsrfRejected, Forbidden, NotSignedIn, SecondFactorNeeded
from tarcza.accounts.service import AccountNotFound, AccountRefused
from tarcza.cases.service import ActionDenied, CaseRefused
from tarcza.cases.service import ReportNotFound as CaseNotFound
from tarcza.hashing.schemas import MatchRequestRejected, PartnerUnauthorized, RateLimited
from tarcza.hotline.service import ItemDenied, ItemNotFound, ItemRefused
from tarcza.intake.service import IdempotencyConflict, ReportNotFound, ReportRejected, Throttled
from tarcza.web.context import render
from tarcza.web.i18n import N_

log = logging.getLogger("tarcza.web")

CSRF_PAGE_MESSAGE = N_("This form has expired. Go back, reload the page and try again.")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/m/")


def _clean(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", [])),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _page_error(request: Request, status: int, message: str | None = None) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    """Register every error handler on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": _clean(exc.errors())}, status_code=422)

    @app.exception_handler(ReportRejected)
    async def rejected(request: Request, exc: ReportRejected) -> Response:
        loc: list[str | int] = ["body"]
        name, _, rest = exc.field.partition("[")
        loc.append(name)
        if rest.rstrip("]").isdigit():
            loc.append(int(rest.rstrip("]")))
        body = {"detail": [{"loc": loc, "msg": exc.message, "type": exc.code}]}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(IdempotencyConflict)
    async def conflict(request: Request, exc: IdempotencyConflict) -> Response:
        msg = "This Idempotency-Key was already used for a different report."
        return JSONResponse({"detail": msg}, status_code=409)

    @app.exception_handler(ReportNotFound)
    async def not_found(request: Request, exc: ReportNotFound) -> Response:
        return JSONResponse({"detail": "No report matches this reference and PIN."}, 404)

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled) -> Response:
        return JSONResponse(
            {"detail": "Too many attempts. Try again later."},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    _install_matching(app)
    _install_staff(app)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
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


def _hma_body(request: Request, detail: Any, message: str) -> dict[str, Any]:
    """HMA's clients read ``message`` (its /m/ error shape); tarcza's read ``detail``."""
    if request.url.path.startswith("/m/"):
        return {"message": message, "detail": detail}
    return {"detail": detail}


def _install_matching(app: FastAPI) -> None:
    """The partner lookup API's errors: 400/422 with field and reason, 401, 429."""

    @app.exception_handler(MatchRequestRejected)
    async def bad_lookup(request: Request, exc: MatchRequestRejected) -> Response:
        detail = [{"loc": loc, "msg": msg, "type": code} for loc, code, msg in exc.problems]
        # HMA answers 400 to a bad query; the JSON API answers 422 like its other validation.
        status = 400 if request.url.path.startswith("/m/") else 422
        return JSONResponse(_hma_body(request, detail, str(exc)), status_code=status)

    @app.exception_handler(PartnerUnauthorized)
    async def unauthorized(request: Request, exc: PartnerUnauthorized) -> Response:
        message = "A valid API key is required: Authorization: Bearer <key>."
        return JSONResponse(
            _hma_body(request, message, message),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        message = "Too many lookups. Try again later."
        return JSONResponse(
            _hma_body(request, message, message),
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )


def _refused_body(field: str, code: str, message: str) -> dict[str, Any]:
    return {"detail": [{"loc": ["body", field], "msg": message, "type": code}]}


def _install_staff(app: FastAPI) -> None:
    """Staff pages and API: sign-in redirects, 401/403/404, refused changes (422)."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Sign in first."}, status_code=401)
        return RedirectResponse("/staff/login", status_code=303)

    @app.exception_handler(SecondFactorNeeded)
    async def second_factor(request: Request, exc: SecondFactorNeeded) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Give the second factor first."}, status_code=401)
        return RedirectResponse("/staff/login/code", status_code=303)

    @app.exception_handler(Forbidden)
    @app.exception_handler(ActionDenied)
    @app.exception_handler(ItemDenied)
    async def forbidden(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Your role may not do this."}, status_code=403)
        return _page_error(request, 403)

    @app.exception_handler(CsrfRejected)
    async def csrf(request: Request, exc: CsrfRejected) -> Response:
        if _is_api(request):
            msg = "Missing or wrong X-CSRF-Token, or a foreign Origin."
            return JSONResponse({"detail": msg}, status_code=403)
        return _page_error(request, 403, CSRF_PAGE_MESSAGE)

    @app.exception_handler(CaseNotFound)
    @app.exception_handler(AccountNotFound)
    @app.exception_handler(ItemNotFound)
    async def staff_not_found(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Not found."}, status_code=404)
        return _page_error(request, 404)

    @app.exception_handler(CaseRefused)
    @app.exception_handler(AccountRefused)
    @app.exception_handler(ItemRefused)
    async def refused(
        request: Request, exc: CaseRefused | AccountRefused | ItemRefused
    ) -> Response:
        if _is_api(request):
            return JSONResponse(_refused_body(exc.field, exc.code, exc.message), status_code=422)
        return _page_error(request, 422, exc.message)
