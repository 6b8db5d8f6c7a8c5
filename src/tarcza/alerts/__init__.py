"""A child in danger now: the referral to the police duty desk, its notifications, escalation."""
