"""What the fast paths of issue 16 share: ASGI layers outside the framework that answer the
requests they can whole and hand the rest on to the application unchanged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

#: The application's answer to an exception, as its handlers give it.
ErrorAnswer = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True)
class RouteTemplate:
    """What the access log reads of ``scope["route"]``: the route's path template."""

    path: str


async def send_json(
    send: Send,
    body: bytes,
    *,
    status: int = 200,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete JSON answer: ``status``, ``body`` (JSON text, already encoded) and, after
    its ``content-length`` and ``content-type``, ``headers`` (the security headers, and any of
    the answer's own), as a Starlette ``Response(body, media_type="application/json")`` would
    send it through the application's middleware."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(
    scope: Scope,
    receive: Receive,
    send: Send,
    exc: Exception,
    *,
    answer_error: ErrorAnswer,
    headers: Sequence[tuple[bytes, bytes]],
) -> None:
    """The application's answer to ``exc`` (``answer_error``), with ``headers`` (the security
    headers) added where the answer has none of the same name."""
    response = await answer_error(Request(scope, receive), exc)

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in headers if k not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    await response(scope, receive, with_headers)


def plain_json_within(scope: Scope, limit: int, refused: Collection[bytes] = ()) -> bool:
    """Whether the request's headers are a plain JSON body's: one ``content-type`` of
    ``application/json``, one ``content-length`` of at most ``limit`` bytes (beyond it the
    application's BodyLimit answers 413), and none of the ``refused`` headers."""
    content_type = length = None
    for name, value in scope["headers"]:
        if name in refused:
            return False
        if name == b"content-type":
            if content_type is not None:
                return False
            content_type = value
        elif name == b"content-length":
            if length is not None:
                return False
            length = value
    if content_type is None or length is None or not length.isdigit() or int(length) > limit:
        return False
    media_type: str = content_type.decode("latin-1").split(";")[0].strip().lower()
    return media_type == "application/json"


async def read_body(receive: Receive, received: list[Message], limit: int) -> bytes | None:
    """The whole body, or None (a disconnect, more than ``limit`` bytes) to hand the request
    on; every message read is kept in ``received``, for :func:`replaying`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(received: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the messages already read, then the server's."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
