"""Shared test helpers: databases, servers, synthetic images."""
