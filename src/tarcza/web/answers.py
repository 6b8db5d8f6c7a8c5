"""Answers sent whole from an ASGI layer outside the framework (the fast paths of issue 16)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Send


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
