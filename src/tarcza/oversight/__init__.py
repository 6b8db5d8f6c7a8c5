"""Oversight of the audit log: the auditors' search, signed exports and their pages.

The log itself (``tarcza.audit``) is the kernel every concept writes to; reading it is a
concept of its own, above the accounts whose permissions decide who may.
"""
