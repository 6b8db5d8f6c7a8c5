"""The error bases every concept's errors subclass, and nothing else (the ground floor).

A concept raises its own error (``ItemNotFound``, ``ReportRejected`` …), a subclass of one of
these; ``tarcza.web.errors`` maps the bases to HTTP in one place, so no web code needs to know
any concept. Each class carries the English sentence its API answer gives (``detail``); pages
show a translated sentence of their own.
"""

from __future__ import annotations

from collections.abc import Sequence


class TarczaError(Exception):
    """The root of tarcza's expected errors (anything else is a bug: HTTP 500)."""

    detail = "The request was not completed."


class NotFound(TarczaError):
    """There is no such record, or the person may not know it exists (HTTP 404)."""

    detail = "Not found."


class Denied(TarczaError):
    """The person may not do this (HTTP 403)."""

    detail = "Your role may not do this."
    # A translatable sentence for pages (an ``N_`` string), or None for the generic one.
    page_message: str | None = None


class Refused(TarczaError):
    """The input breaks a rule: which field, a stable code, and a sentence (HTTP 422).

    ``field`` may name an item of a list, as ``urls[2]``.
    """

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message

    @property
    def problems(self) -> Sequence[tuple[list[str | int], str, str]]:
        """Each problem as (location, code, message); one unless a subclass holds more."""
        loc: list[str | int] = ["body"]
        name, _, rest = self.field.partition("[")
        loc.append(name)
        index = rest.rstrip("]")
        if index.isdigit():
            loc.append(int(index))
        return [(loc, self.code, self.message)]


class Conflict(TarczaError):
    """The request contradicts what was done before (HTTP 409)."""

    detail = "This conflicts with an earlier request."


class Throttled(TarczaError):
    """Too many attempts: try again after ``retry_after`` seconds (HTTP 429)."""

    detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after
        # More for the API's answer, beside ``detail`` (e.g. where to get help meanwhile).
        self.extra: dict[str, object] = {}


class Unauthenticated(TarczaError):
    """Who is asking is not known (HTTP 401; pages go to ``page_redirect`` when set)."""

    detail = "Authentication is required."
    page_redirect: str | None = None
    # The WWW-Authenticate challenge of an API that authenticates by key, if any.
    challenge: str | None = None
