"""Background work: sending notices and re-checking notified URLs (see queue.py)."""
