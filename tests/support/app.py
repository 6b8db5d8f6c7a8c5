"""The application for a test, built by the one composition root (``tarcza.app``).

A test's settings name no database (they come from the ``settings`` fixture); the database is
the test's ``db`` fixture's, so that each test runs on SQLite and on PostgreSQL. Otherwise the
application is exactly what ``tarcza serve`` builds: ``build`` then ``web``.
"""

from __future__ import annotations

from fastapi import FastAPI

from tarcza.app import Application, build, web
from tarcza.config import Settings
from tarcza.store.engine import Database


def settings_for(settings: Settings, db: Database) -> Settings:
    """``settings`` pointed at ``db``'s database."""
    url = db.engine.url.render_as_string(hide_password=False)
    return settings.model_copy(update={"database_url": url})


def make_application(settings: Settings, db: Database) -> Application:
    """The composition root's application for ``settings`` on ``db``'s database."""
    return build(settings_for(settings, db))


def make_app(settings: Settings, db: Database) -> FastAPI:
    """The web application ``tarcza serve`` would run, on ``db``'s database."""
    return web(make_application(settings, db))
