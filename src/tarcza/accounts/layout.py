"""What the staff layout shows on every staff page: the person signed in, the menu, the CSRF token.

The composition root hands :func:`staff_page_values` to the web toolkit's renderer, which knows
no accounts.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from tarcza.accounts import access
from tarcza.accounts.permissions import Action, AgencyKind, Principal, holds
from tarcza.web.deps import served_paths
from tarcza.web.i18n import N_

# (path, label, action needed): the staff menu shows what the person may open.
STAFF_MENU = (
    ("/staff/queue", N_("Queue"), Action.REPORT_QUEUE_LIST),
    ("/staff/alerts", N_("Children in danger"), Action.ALERT_DANGER_READ),
    ("/staff/items", N_("Content items"), Action.HOTLINE_ITEM_READ),
    ("/staff/helpline", N_("Helpline"), Action.HELPLINE_CASE_READ),
    # The coordinator's first page: the national figures (before the counts of /staff/stats).
    ("/staff/national", N_("National figures"), Action.STATS_AGGREGATE_READ),
    ("/staff/stats", N_("Figures"), Action.STATS_AGGREGATE_READ),
    ("/staff/hotline/stats", N_("Removal figures"), Action.HOTLINE_STATS_READ),
    ("/staff/mnr", N_("National response tracker"), Action.MNR_TRACKER_READ),
    ("/staff/selfprotect", N_("Held fingerprints"), Action.SELFPROTECT_HASH_REVIEW),
    ("/staff/audit", N_("Audit log"), Action.AUDIT_LOG_SEARCH),
    # Only where the development mail catcher runs (the menu lists pages the app has).
    ("/staff/mail", N_("Caught mail"), Action.HOTLINE_ITEM_READ),
    ("/staff/users", N_("Accounts"), Action.USER_ACCOUNT_MANAGE),
)

# Entries for people of one kind of agency only (a supervisor holds the action for their own
# agency's figures; the national ones are the coordinator's).
ONLY_KIND = {"/staff/national": AgencyKind.COORDINATOR}
# Entries not for people of one kind of agency: the old counts of /staff/stats are not
# suppressed, so the coordinator reads the national figures instead.
NOT_KIND = {"/staff/stats": AgencyKind.COORDINATOR}


def staff_menu(
    staff: Principal | None, pages: frozenset[str] | None = None
) -> list[tuple[str, str]]:
    """The menu entries ``staff`` may open (of the ``pages`` the app has), plus their account."""
    if staff is None:
        return []
    entries = [
        (href, label)
        for href, label, action in STAFF_MENU
        if holds(staff, action)
        and (pages is None or href in pages)
        and ONLY_KIND.get(href, staff.agency_kind) is staff.agency_kind
        and NOT_KIND.get(href) is not staff.agency_kind
    ]
    return [*entries, ("/staff/account", N_("My account"))]


def staff_page_values(request: Request) -> dict[str, Any]:
    """The signed-in person (if any), their menu and the CSRF token, for staff pages."""
    if not request.url.path.startswith("/staff"):
        return {}
    principal = access.current_principal(request)
    staff = principal if principal is not None and principal.mfa_passed else None
    return {
        "staff": staff,
        "staff_menu": staff_menu(staff, served_paths(request.app)),
        "csrf": access.csrf_token(request),
    }
