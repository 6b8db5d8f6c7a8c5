"""Imports every concept's models so that the metadata knows all tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import MetaData

if TYPE_CHECKING:
    from tarcza.config import Settings
    from tarcza.store.engine import Database


def metadata() -> MetaData:
    """The metadata of all of tarcza's tables."""
    from tarcza.accounts import models as _accounts  # noqa: F401
    from tarcza.alerts import models as _alerts  # noqa: F401
    from tarcza.audit import models as _audit  # noqa: F401
    from tarcza.cases import models as _cases  # noqa: F401
    from tarcza.coordination import models as _coordination  # noqa: F401
    from tarcza.hashing import models as _hashing  # noqa: F401
    from tarcza.helpline import models as _helpline  # noqa: F401
    from tarcza.hotline import models as _hotline  # noqa: F401
    from tarcza.intake import models as _intake  # noqa: F401
    from tarcza.mnr import models as _mnr  # noqa: F401
    from tarcza.platforms import models as _platforms  # noqa: F401
    from tarcza.selfprotect import models as _selfprotect  # noqa: F401
    from tarcza.store import rates as _rates  # noqa: F401
    from tarcza.store import throttle as _throttle  # noqa: F401
    from tarcza.store.base import Base

    return Base.metadata


def application_database(settings: Settings) -> Database:
    """The application's database for ``settings``, every concept's tables mapped: what the
    composition root (``tarcza.app.build``) makes, and what a CLI command that needs nothing
    else is given (``ServicesFactory.database``) without importing the whole application."""
    from tarcza.store.engine import make_database

    metadata()  # every concept's tables are mapped before any session runs
    return make_database(settings.resolved_database_url, settings)
