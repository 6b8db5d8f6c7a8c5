"""Alembic migrations run from code: ``tarcza db upgrade`` and the tests use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from tarcza.schema import registry
from tarcza.store.engine import ensure_sqlite_folder


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` using the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", "tarcza.schema:migrations")
    # '%' is ConfigParser's interpolation character; URLs may contain it.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["target_metadata"] = registry.metadata()
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail (alembic's CommandError) when the models and the migrations differ."""
    command.check(alembic_config(url))
