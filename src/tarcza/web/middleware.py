"""ASGI middleware: request body limits, security headers and the access log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        # blob: media and images: the self-protection page decodes the person's own files
        # on the device (a video element and a canvas) to fingerprint them; nothing is fetched.
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        b"media-src blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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


class AccessLog:
    """tarcza's access log, in place of uvicorn's: one line per request on ``tarcza.access``.

    Public routes (everything outside PRIVATE_PATHS) keep reporters private: the
    path is the route's template (``/api/v1/reports/{reference}/status``, never the
    reference), no query string, and no client address — only ``peer=``, a keyed
    hash of it under a key that changes every UTC day, enough to see one client
    hammering but not who it is nor to follow it across days. Staff routes log the
    address. ``keyed_hash(purpose, value)`` is the key ring's HMAC.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keyed_hash: Callable[[str, str], str],
        today: Callable[[], str] | None = None,
    ) -> None:
        self.app = app
        self.keyed_hash = keyed_hash
        self.today = today or (lambda: time.strftime("%Y-%m-%d", time.gmtime()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before its answer

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            if _ACCESS.isEnabledFor(logging.INFO):  # the line costs a keyed hash: none unread
                self._log(scope, status, (time.perf_counter() - started) * 1000)

    def _log(self, scope: Scope, status: int, millis: float) -> None:
        _ACCESS.info(
            "%s %s %d %.1fms %s",
            scope.get("method", "-"),
            self._path(scope),
            status,
            millis,
            self._who(scope),
        )

    def _path(self, scope: Scope) -> str:
        path = str(scope.get("path", ""))
        if path.startswith(PRIVATE_PATHS):
            return path
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str):
            return "<unmatched>"  # a public path no route knows may still hold a reference
        return template  # a route's template; a mount (static files) names its prefix

    def _who(self, scope: Scope) -> str:
        client = scope.get("client")
        host = str(client[0]) if client else "-"
        if str(scope.get("path", "")).startswith(PRIVATE_PATHS):
            return f"client={host}"
        peer = self.keyed_hash(f"access-log:{self.today()}", host)[:12]
        return f"peer={peer}"


_ACCESS = logging.getLogger("tarcza.access")
