"""The staff API's request and answer bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tarcza.cases.rules import MAX_REASON, OutcomeKind, ReferralState
from tarcza.intake.rules import Category, Status

# References look like TZ-7K2M-9QXP; anything else names no report (422 before any query).
Reference = Annotated[str, StringConstraints(pattern=r"^TZ-[0-9A-Z]{4}-[0-9A-Z]{4}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON)]
AgencyCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,31}$")]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,39}$")]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusChangeIn(_In):
    status: Status
    reason: Reason


class AssignmentIn(_In):
    assignee: Username | None = Field(None, description="A colleague's username; null: nobody")


class ReferralIn(_In):
    to_agency: AgencyCode
    reason: Reason


class ReferralAnswerIn(_In):
    accept: bool
    reason: Reason


class RevealIn(_In):
    reason: Reason


class WithdrawalIn(_In):
    reason: Reason


class EvidencePackageIn(_In):
    case_number: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The police case number the package is made for"
    )


class EvidencePackageOut(BaseModel):
    passphrase: str = Field(
        description="Decrypts the package (openssl enc -d -aes-256-cbc -pbkdf2 -iter 600000 "
        "-md sha256). Shown this once: it is not stored anywhere"
    )
    download_url: str = Field(description="Download the encrypted package here, once")
    filename: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the encrypted file")
    manifest_sha256: str = Field(description="SHA-256 of manifest.sha256 (in the audit log)")
    files: int


class OutcomeIn(_In):
    outcome: OutcomeKind
    reason: Reason | None = Field(None, description="Required for no_action")


class OutcomeOut(BaseModel):
    id: int
    agency: str
    outcome: OutcomeKind
    reason: str | None
    recorded_by: str
    recorded_at: datetime


class QueueItemOut(BaseModel):
    reference: str
    category: Category
    status: Status
    priority: int
    child_in_danger: bool
    created_at: datetime
    owner_agency: str
    relation: str
    assignee: str | None
    bank_match: bool
    evidence_count: int
    referral_pending: bool
    referred_at: datetime | None = Field(
        None, description="When the report was referred to your agency (null: your own)"
    )


class MatchOut(BaseModel):
    bank: str
    signal_type: str
    distance: int


class EvidenceOut(BaseModel):
    id: int
    media_type: str
    size_bytes: int
    width: int
    height: int
    md5: str
    sha256: str
    pdq: str | None
    pdq_quality: int | None
    matches: list[MatchOut]
    preview_url: str


class ItemOut(BaseModel):
    id: int
    url: str
    url_as_reported: str
    state: str
    reports: int = Field(description="How many reports name this content item")
    first_reported_at: datetime
    removed_at: datetime | None
    classification: str | None = Field(None, description="The hotline's standing assessment")
    hosting_country: str | None = Field(None, description="Where the latest trace found it")
    notices_sent: int = Field(0, description="Notices and forwards sent for it")


class ReferralOut(BaseModel):
    id: int
    from_agency: str
    to_agency: str
    state: ReferralState
    reason: str
    created_by: str
    created_at: datetime
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    agency: str | None
    action: str
    reason: str | None
    details: dict[str, object]


class ReportOut(BaseModel):
    reference: str
    category: Category
    status: Status
    priority: int
    child_in_danger: bool
    child_age_range: str | None
    language: str
    source: str
    platform: str | None
    urls: list[str]
    created_at: datetime
    owner_agency: str
    relation: str
    assignee: str | None
    description: str | None
    usernames: list[str] | None
    contact: dict[str, str | None] | None
    evidence: list[EvidenceOut]
    items: list[ItemOut]
    referrals: list[ReferralOut]
    history: list[HistoryOut]
    outcomes: list[OutcomeOut] = Field(description="What the police made of the report")
    allowed: list[str] = Field(description="The actions you may take on this report")


class ChangedOut(BaseModel):
    reference: str
    status: Status


class ReferralCreatedOut(BaseModel):
    id: int


class RevealOut(BaseModel):
    image_url: str
    expires: int


class FiguresOut(BaseModel):
    status: dict[str, int]
    category: dict[str, int]
    agency: dict[str, int]
    referral: dict[str, int]
    outcome: dict[str, int] = Field(description="Outcomes the police recorded, by kind")
