"""Imports every concept's models so that the metadata knows all tables."""

from __future__ import annotations

from sqlalchemy import MetaData


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
