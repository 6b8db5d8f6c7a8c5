"""Typed dependencies: a handler declares the one service it uses, by its type.

The composition root (``tarcza.app``) puts the ``Services`` it built in ``app.state.services``;
``Depends(provided(HotlineService))`` hands that instance to a handler. A concept module writes
``Hotline = Annotated[HotlineService, Depends(provided(HotlineService))]`` once and its handlers
take ``hotline: Hotline``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts

from tarcza.services import Services

T = TypeVar("T")


def services(request: Request) -> Services:
    """The application's services."""
    value: Services = request.app.state.services
    return value


def provided(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency that returns the application's instance of ``kind``.

    A coroutine function, so that FastAPI calls it on the event loop: a plain function would
    cost a threadpool hop per dependency per request (a dictionary lookup needs none).
    """

    async def dependency(request: Request) -> T:
        return services(request).get(kind)

    dependency.__name__ = f"provided_{kind.__name__}"
    return dependency


def served_paths(app: FastAPI) -> frozenset[str]:
    """Every path the application routes (through included routers too), computed once."""
    state = app.state
    if not hasattr(state, "served_paths"):
        state.served_paths = frozenset(
            context.path for context in iter_route_contexts(app.routes) if context.path
        )
    paths: frozenset[str] = state.served_paths
    return paths
