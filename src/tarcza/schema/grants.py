"""The application's PostgreSQL role: everything it needs, and no way to rewrite the audit log.

Run migrations as the owner; run the web and the workers as an application
role that holds these grants. The role may INSERT into and SELECT from
``audit_log`` but not UPDATE, DELETE or TRUNCATE it, so even a compromised
application cannot quietly edit history (the hash chain and the signed
checkpoints show what a database owner might do).
"""

from __future__ import annotations

import re

from sqlalchemy import text

from tarcza.schema import registry
from tarcza.store.engine import Database

APPEND_ONLY = frozenset({"audit_log"})
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(role: str) -> list[str]:
    """The SQL that gives ``role`` (an existing PostgreSQL role) the application's rights."""
    if not _ROLE.match(role):
        raise ValueError("a role name is lower-case letters, digits and underscores")
    statements = [f"GRANT USAGE ON SCHEMA public TO {role}"]
    for table in sorted(registry.metadata().tables):
        if table in APPEND_ONLY:
            statements.append(f"REVOKE ALL ON {table} FROM {role}")
            statements.append(f"GRANT SELECT, INSERT ON {table} TO {role}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    statements.append(f"GRANT SELECT ON alembic_version TO {role}")
    return statements


def apply_grants(db: Database, role: str) -> int:
    """Run :func:`grant_statements` on a PostgreSQL database; how many statements ran."""
    if db.dialect != "postgresql":
        raise ValueError("roles and grants are a PostgreSQL matter; SQLite has none")
    statements = grant_statements(role)
    with db.transaction() as session:
        for statement in statements:
            session.execute(text(statement))
    return len(statements)
