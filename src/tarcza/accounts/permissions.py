"""Who may do what — pure: no web, database or network imports.

Permissions are data: one sorted list of ``scope:resource:action`` names
(:class:`Action`) and one table (:data:`GRANTS`) of which role holds which,
and for which relation between the person's agency and the record:

- ``own``: the record belongs to the person's agency (for actions on no
  record — the queue, statistics, the audit log — the person's own scope);
- ``referred_pending``: the record was referred to the person's agency and it
  has not answered yet: it reads the summary it needs to decide, and answers;
- ``referred``: the person's agency accepted a referral of the record (a
  declined or withdrawn referral gives nothing);
- ``other``: anything else.

Every page and API route asks :func:`permits`; the second factor is enforced
here too, so a person who has not passed TOTP holds no permission at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AgencyKind(StrEnum):
    """The institutions of the national response."""

    HOTLINE = "hotline"
    HELPLINE = "helpline"
    POLICE = "police"
    COORDINATOR = "coordinator"
    PLATFORM = "platform"


class Role(StrEnum):
    """What a person does inside their agency."""

    ANALYST = "analyst"
    COUNSELLOR = "counsellor"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"
    PLATFORM = "platform"


class Relation(StrEnum):
    """How the record stands to the person's agency."""

    OWN = "own"
    REFERRED_PENDING = "referred_pending"
    REFERRED = "referred"
    OTHER = "other"


class Action(StrEnum):
    """Every permission there is, sorted by name."""

    ALERT_DANGER_ACKNOWLEDGE = "alert:danger:acknowledge"
    ALERT_DANGER_READ = "alert:danger:read"
    AUDIT_LOG_EXPORT = "audit:log:export"
    AUDIT_LOG_SEARCH = "audit:log:search"
    EVIDENCE_IMAGE_REVEAL = "evidence:image:reveal"
    EVIDENCE_PACKAGE_EXPORT = "evidence:package:export"
    EVIDENCE_PREVIEW_READ = "evidence:preview:read"
    HASH_MATCH_QUERY = "hash:match:query"
    HELPLINE_CASE_READ = "helpline:case:read"
    HELPLINE_CASE_WORK = "helpline:case:work"
    HELPLINE_CONTACT_READ = "helpline:contact:read"
    HELPLINE_CONTACT_RECORD = "helpline:contact:record"
    HELPLINE_DIRECTORY_READ = "helpline:directory:read"
    HELPLINE_IDENTITY_READ = "helpline:identity:read"
    HELPLINE_POLICE_REFER = "helpline:police:refer"
    HELPLINE_REPORT_FILE = "helpline:report:file"
    HELPLINE_SUMMARY_READ = "helpline:summary:read"
    HOTLINE_ITEM_ASSESS = "hotline:item:assess"
    HOTLINE_ITEM_READ = "hotline:item:read"
    HOTLINE_STATS_READ = "hotline:stats:read"
    MNR_PROGRESS_UPDATE = "mnr:progress:update"
    MNR_TRACKER_MANAGE = "mnr:tracker:manage"
    MNR_TRACKER_READ = "mnr:tracker:read"
    REFERRAL_ANSWER = "referral:answer:decide"
    REFERRAL_OUTCOME_RECORD = "referral:outcome:record"
    REPORT_ASSIGNMENT_CHANGE = "report:assignment:change"
    REPORT_MESSAGE_SEND = "report:message:send"
    REPORT_PERSONAL_READ = "report:personal:read"
    REPORT_QUEUE_LIST = "report:queue:list"
    REPORT_REFERRAL_CREATE = "report:referral:create"
    REPORT_STATUS_CHANGE = "report:status:change"
    REPORT_SUMMARY_READ = "report:summary:read"
    SELFPROTECT_HASH_REVIEW = "selfprotect:hash:review"
    STATS_AGGREGATE_READ = "stats:aggregate:read"
    USER_ACCOUNT_MANAGE = "user:account:manage"


OWN = frozenset({Relation.OWN})
OWN_OR_REFERRED = frozenset({Relation.OWN, Relation.REFERRED})
OWN_OR_ASKED = frozenset({Relation.OWN, Relation.REFERRED_PENDING, Relation.REFERRED})
PENDING = frozenset({Relation.REFERRED_PENDING})
ASKED = frozenset({Relation.REFERRED_PENDING, Relation.REFERRED})

# What someone working cases holds: their agency's records and those referred to it.
# A receiving agency works the report only once it accepted; while the referral is
# pending it reads what it needs to decide and answers, nothing more.
_CASEWORK: dict[Action, frozenset[Relation]] = {
    # The queue is the person's own agency's (pending referrals show in it, to be answered).
    Action.REPORT_QUEUE_LIST: OWN,
    # The summary (category, referral reason, dates, counts) is what a receiving agency decides on.
    Action.REPORT_SUMMARY_READ: OWN_OR_ASKED,
    # Personal data goes to an agency that took the report on, not to one merely asked.
    Action.REPORT_PERSONAL_READ: OWN_OR_REFERRED,
    # Even a blurred preview is evidence: for those who work the report.
    Action.EVIDENCE_PREVIEW_READ: OWN_OR_REFERRED,
    # The status is public (the reporter reads it): changed by those who work the report.
    Action.REPORT_STATUS_CHANGE: OWN_OR_REFERRED,
    # Each agency assigns its own people, once the report is its work.
    Action.REPORT_ASSIGNMENT_CHANGE: OWN_OR_REFERRED,
    # A question or a message to the reporter, shown on the status page: those who work it.
    Action.REPORT_MESSAGE_SEND: OWN_OR_REFERRED,
    # Only the owner refers: access passed on by a receiving agency would outlive its decline.
    Action.REPORT_REFERRAL_CREATE: OWN,
    # Only an agency asked, and not yet answered, answers a referral.
    Action.REFERRAL_ANSWER: PENDING,
}
# A child in danger now: every agency that follows the report (its owner, the helpline that
# filed it, the duty desk asked or working it) sees the same alert state; only the duty desk
# the alert went to acknowledges it (police only, see ONLY_KINDS), while deciding or after.
_ALERTS = {Action.ALERT_DANGER_READ: OWN_OR_ASKED}
_ACKNOWLEDGE = {Action.ALERT_DANGER_ACKNOWLEDGE: ASKED}

# Seeing the image itself is for those whose work is the material (not counsellors),
# and only on reports they work (not on one they were merely asked to take).
_REVEAL = {Action.EVIDENCE_IMAGE_REVEAL: OWN_OR_REFERRED}

# What the police does with a report it took on: the evidence package for a prosecutor (the
# originals, unsealed into an encrypted package) and the outcome of its work. Only on a report
# referred to it and accepted, and only by the police (see ONLY_KINDS).
_POLICE = {
    Action.EVIDENCE_PACKAGE_EXPORT: frozenset({Relation.REFERRED}),
    Action.REFERRAL_OUTCOME_RECORD: frozenset({Relation.REFERRED}),
}

# Content items are the hotline's: "own" means the person works at the intake hotline.
_HOTLINE = {Action.HOTLINE_ITEM_READ: OWN, Action.HOTLINE_ITEM_ASSESS: OWN}

# The child helpline's own work: its contacts and cases are "own" to the helpline that
# recorded them and to nobody else (a name or number, when recorded, is read apart and the
# reading audited). Held by counsellors and supervisors, of a helpline only (ACTION_KINDS).
_HELPLINE: dict[Action, frozenset[Relation]] = {
    Action.HELPLINE_CONTACT_RECORD: OWN,
    Action.HELPLINE_CONTACT_READ: OWN,
    Action.HELPLINE_IDENTITY_READ: OWN,
    Action.HELPLINE_CASE_READ: OWN,
    Action.HELPLINE_CASE_WORK: OWN,
    Action.HELPLINE_REPORT_FILE: OWN,
    Action.HELPLINE_POLICE_REFER: OWN,
    Action.HELPLINE_DIRECTORY_READ: OWN,
    Action.HELPLINE_SUMMARY_READ: OWN,
}
# A police unit a helpline case was referred to reads the case's summary (categories, risk,
# age band, status, dates): while deciding and once accepted; never the counsellor's sealed
# summary, notes, or a name or number.
_HELPLINE_REFERRED = {Action.HELPLINE_SUMMARY_READ: ASKED}

# The national programme's MNR tracker (the 21 capabilities): every agency's working staff read
# all of it ("own": the programme is theirs); a capability is "own" to the institutions
# responsible for it, whose people update its evidence and actions.
_MNR = {Action.MNR_TRACKER_READ: OWN, Action.MNR_PROGRESS_UPDATE: OWN}

GRANTS: dict[Role, dict[Action, frozenset[Relation]]] = {
    Role.ANALYST: {**_CASEWORK, **_ALERTS, **_REVEAL, **_HOTLINE, **_MNR},
    Role.COUNSELLOR: {**_CASEWORK, **_ALERTS, **_HELPLINE, **_MNR},
    Role.OFFICER: {
        **_CASEWORK,
        **_ALERTS,
        **_ACKNOWLEDGE,
        **_REVEAL,
        **_POLICE,
        **_HELPLINE_REFERRED,
        **_MNR,
    },
    Role.SUPERVISOR: {
        **_CASEWORK,
        **_ALERTS,
        **_ACKNOWLEDGE,
        **_MNR,
        **_REVEAL,
        **_HOTLINE,
        **_POLICE,
        **_HELPLINE,
        Action.HELPLINE_SUMMARY_READ: OWN_OR_ASKED,
        Action.STATS_AGGREGATE_READ: OWN,
        Action.HOTLINE_STATS_READ: OWN,
        # Held self-protection hashes (hashes only, never an image): the hotline's supervisors.
        Action.SELFPROTECT_HASH_REVIEW: OWN,
    },
    # The coordinator sees aggregates only, never a person's data; it convenes the programme,
    # so it edits every capability of the tracker (names, phases, who is responsible).
    Role.COORDINATOR: {
        Action.STATS_AGGREGATE_READ: OWN,
        Action.HOTLINE_STATS_READ: OWN,
        **_MNR,
        Action.MNR_TRACKER_MANAGE: OWN,
    },
    # Administrators manage their own agency's accounts and nothing else.
    Role.ADMINISTRATOR: {Action.USER_ACCOUNT_MANAGE: OWN},
    Role.AUDITOR: {Action.AUDIT_LOG_SEARCH: OWN, Action.AUDIT_LOG_EXPORT: OWN},
    # A partner platform sees nothing but match answers.
    Role.PLATFORM: {Action.HASH_MATCH_QUERY: OWN},
}

# Actions held only by people of these kinds of agency, whatever their role grants
# (a hotline's supervisor takes no evidence package and records no police outcome; a hotline's
# or a police unit's supervisor records no helpline contact: the helpline's records are "own"
# to a helpline only; the police read a referred helpline case's summary).
ONLY_KINDS: dict[Action, frozenset[AgencyKind]] = {
    Action.ALERT_DANGER_ACKNOWLEDGE: frozenset({AgencyKind.POLICE}),
    Action.EVIDENCE_PACKAGE_EXPORT: frozenset({AgencyKind.POLICE}),
    Action.REFERRAL_OUTCOME_RECORD: frozenset({AgencyKind.POLICE}),
    **dict.fromkeys(_HELPLINE, frozenset({AgencyKind.HELPLINE})),
    Action.HELPLINE_SUMMARY_READ: frozenset({AgencyKind.HELPLINE, AgencyKind.POLICE}),
    # Only the coordinating ministry edits the whole tracker.
    Action.MNR_TRACKER_MANAGE: frozenset({AgencyKind.COORDINATOR}),
}

# Which roles each kind of agency may give its people.
ROLES_OF_KIND: dict[AgencyKind, frozenset[Role]] = {
    AgencyKind.HOTLINE: frozenset(
        {Role.ANALYST, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR}
    ),
    AgencyKind.HELPLINE: frozenset(
        {Role.COUNSELLOR, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR}
    ),
    AgencyKind.POLICE: frozenset({Role.OFFICER, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR}),
    AgencyKind.COORDINATOR: frozenset({Role.COORDINATOR, Role.ADMINISTRATOR, Role.AUDITOR}),
    AgencyKind.PLATFORM: frozenset({Role.PLATFORM, Role.ADMINISTRATOR}),
}

# Actions whose use must leave a trace even when only reading.
AUDITED_READS = frozenset(
    {
        Action.REPORT_PERSONAL_READ,
        Action.EVIDENCE_PREVIEW_READ,
        Action.EVIDENCE_IMAGE_REVEAL,
        Action.AUDIT_LOG_SEARCH,
        Action.AUDIT_LOG_EXPORT,
        Action.EVIDENCE_PACKAGE_EXPORT,
        Action.HELPLINE_IDENTITY_READ,
    }
)
# Actions that take a reason from the person.
NEEDS_REASON = frozenset(
    {
        Action.EVIDENCE_IMAGE_REVEAL,
        Action.REPORT_STATUS_CHANGE,
        Action.REPORT_REFERRAL_CREATE,
        Action.REFERRAL_ANSWER,
        Action.HELPLINE_POLICE_REFER,
    }
)


@dataclass(frozen=True)
class Principal:
    """A signed-in person as the rules see them."""

    user_id: int
    username: str
    agency: str
    agency_kind: AgencyKind
    role: Role
    mfa_passed: bool


def permits(principal: Principal | None, action: Action, relation: Relation) -> bool:
    """Whether ``principal`` may do ``action`` on a record in ``relation`` to their agency."""
    if principal is None or not principal.mfa_passed:
        return False
    if principal.role not in ROLES_OF_KIND[principal.agency_kind]:
        return False
    kinds = ONLY_KINDS.get(action)
    if kinds is not None and principal.agency_kind not in kinds:
        return False
    return relation in GRANTS[principal.role].get(action, frozenset())


def relation_of(
    agency: str,
    owner: str,
    accepted_by: frozenset[str],
    pending_with: frozenset[str] = frozenset(),
) -> Relation:
    """The relation of a record owned by ``owner`` to ``agency``.

    ``accepted_by``: the agencies that accepted a referral of it; ``pending_with``: those
    asked that have not answered. An accepted referral outweighs a pending one.
    """
    if agency == owner:
        return Relation.OWN
    if agency in accepted_by:
        return Relation.REFERRED
    if agency in pending_with:
        return Relation.REFERRED_PENDING
    return Relation.OTHER


def role_allowed(kind: AgencyKind, role: Role) -> bool:
    """Whether an agency of ``kind`` may have people in ``role``."""
    return role in ROLES_OF_KIND[kind]


def holds(principal: Principal | None, action: Action) -> bool:
    """Whether ``principal`` may do ``action`` on anything at all (the route-level check)."""
    return any(permits(principal, action, relation) for relation in Relation)
