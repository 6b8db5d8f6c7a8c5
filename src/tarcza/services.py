"""The application's collaborators by type: what the composition root built, for every entry point.

``tarcza.app`` fills one ``Services`` per process; web handlers reach it through
``tarcza.web.deps.provided``, CLI commands receive it. A concept asks for the one service it
uses by its class and never sees the root.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from tarcza.store.engine import Database

T = TypeVar("T")


class Services:
    """A read-only map from a class to the application's one instance of it."""

    def __init__(self, items: Mapping[type[Any], Any]) -> None:
        self._items = dict(items)

    def get(self, kind: type[T]) -> T:
        """The instance of ``kind``; a missing one is a wiring bug, said plainly."""
        try:
            value: T = self._items[kind]
        except KeyError:
            raise LookupError(
                f"the application has no {kind.__name__}: wire it in tarcza.app"
            ) from None
        return value

    def __contains__(self, kind: object) -> bool:
        return kind in self._items


class ServicesFactory(Protocol):
    """What a CLI command is given: called, it builds the application's services through the
    composition root on first call (commands that need none never build them); ``database()``
    is the application's database alone, made as the root makes it, for a command that needs
    nothing else (importing the whole application costs such a command a second or two)."""

    def __call__(self) -> Services: ...

    def database(self) -> Database: ...
