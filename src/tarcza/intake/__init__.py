"""Intake: a new report, its evidence, and the public status check."""
