"""Shared storage: engine and sessions, the declarative base, migrations."""
