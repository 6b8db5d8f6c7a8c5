"""Accounts: rules, sign-in, sessions, pages, administration, command line."""
