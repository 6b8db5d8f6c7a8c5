"""ASGI middleware: request body limits and security headers."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


# Staff pages and APIs carry personal data and evidence: no cache may keep them.
PRIVATE_PATHS = ("/staff", "/api/v1/staff", "/api/v1/audit")


class SecurityHeaders:
    """Adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        private = str(scope.get("path", "")).startswith(PRIVATE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if private and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised inside the app's receive when a streamed body passes the limit.

    An HTTPException, so that whichever layer catches it answers 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class BodyLimit:
    """Refuses request bodies over a limit chosen per content type (413)."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.limit_for(content_type)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, send, limit)


_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="pl"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>Za duże dane / Too large</title><link rel="stylesheet" href="/static/style.css">'
    '</head><body><main class="wrap"><h1>Przesłane dane są za duże</h1>'
    "<p>Pliki razem nie mogą przekraczać {mib} MiB. Wróć i dołącz mniej lub mniejsze pliki.</p>"
    '<p lang="en">What you sent is larger than {mib} MiB. Go back and attach fewer or smaller'
    ' files.</p><p><a href="/report">Wróć do formularza / Back to the form</a></p>'
    '<p>Dziecko w niebezpieczeństwie? <a href="tel:112">Dzwoń pod 112</a></p>'
    "</main></body></html>"
)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    # Pages get a page (this runs before the app, so before its i18n); the API gets JSON.
    if str(scope.get("path", "")).startswith("/api/"):
        content_type = b"application/json"
        body = json.dumps(
            {"detail": f"The request body is larger than the limit of {limit} bytes."}
        ).encode()
    else:
        content_type = b"text/html; charset=utf-8"
        body = _TOO_LARGE_PAGE.format(mib=max(1, limit // (1024 * 1024))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
