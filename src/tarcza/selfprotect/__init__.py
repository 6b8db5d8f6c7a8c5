"""Self-protection: a person protects their own images by sending only hashes."""
