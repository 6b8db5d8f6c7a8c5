"""The deployment's hotline rules, directories and policies, read once from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tarcza.config import Settings
from tarcza.hotline import rules, schedule
from tarcza.hotline.notices import AbuseDirectory, default_abuse_directory


@dataclass(frozen=True)
class Deployment:
    """What the rules need from the deployment: its rules, partners, contacts and policies."""

    action_rules: rules.ActionRules
    partners: rules.PartnerDirectory
    abuse_contacts: AbuseDirectory
    hotline_agency: str
    police_agency: str
    second_review_not_illegal: bool
    monitor_backoff_hours: Sequence[float] = schedule.DEFAULT_BACKOFF_HOURS


def deployment_of(settings: Settings) -> Deployment:
    """The deployment's rules and directories: the shipped ones for its country."""
    return Deployment(
        action_rules=rules.default_action_rules(settings.country),
        partners=rules.default_partner_directory(),
        abuse_contacts=default_abuse_directory(),
        hotline_agency=settings.intake_agency,
        police_agency=settings.police_agency,
        second_review_not_illegal=settings.second_review_not_illegal,
        monitor_backoff_hours=tuple(settings.monitor_backoff_hours),
    )
