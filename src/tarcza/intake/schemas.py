"""The intake API's edge: request and answer models (pydantic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from tarcza.intake import rules
from tarcza.intake.service import NewReport, PublicStatus
from tarcza.web import i18n


def _rule(check: rules.RuleViolation) -> PydanticCustomError:
    return PydanticCustomError(check.code, check.message)


def _text(max_length: int, *, multiline: bool = False) -> AfterValidator:
    def validate(value: str) -> str:
        try:
            return rules.clean_text("value", value, max_length, multiline=multiline)
        except rules.RuleViolation as exc:
            raise _rule(exc) from None

    return AfterValidator(validate)


# Advertised in the schema so that clients (and schemathesis) know exactly what the rules
# accept; enforced by rules.clean_text, check_url, check_email and check_phone. The classes are
# spelled out (no \s, \d: regex dialects disagree on them). Controls are Unicode's Cc:
# C0, DEL and C1. Blanks are the other characters str.strip() removes.
_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_BLANKS = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_BLANK = f"[{_BLANKS}]"
_VISIBLE = f"[^{_CONTROLS}{_BLANKS}]"
# Characters that NFKC turns into one of / ? # @ : — urlsplit refuses them in a host.
_NFKC_DELIMITERS = (
    r"\u2047-\u2049\u2100\u2101\u2105\u2106\u2a74"
    r"\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20"
)
_NETLOC_CHAR = f"[^{_CONTROLS}{_BLANKS}/?#\\[\\]{_NFKC_DELIMITERS}]"
_HOST_CHAR = f"[^{_CONTROLS}{_BLANKS}/?#@:\\[\\]{_NFKC_DELIMITERS}]"
_PORT = "0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
SINGLE_LINE: dict[str, Any] = {"pattern": f"^[^{_CONTROLS}]*$"}
# A lone CR is refused; CRLF is folded to LF.
MULTI_LINE: dict[str, Any] = {"pattern": r"^(?:[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]|\r\n)*$"}
#: Text with something in it once blanks are stripped.
NOT_BLANK = f"[^{_BLANKS}\\t\\n\\r]"
URL_PATTERN: dict[str, Any] = {
    "pattern": (
        f"^{_BLANK}*[Hh][Tt][Tt][Pp][Ss]?://(?:{_NETLOC_CHAR}*@)?"
        f"(?:{_HOST_CHAR}+|\\[{rules.IPV6_PATTERN}\\])(?::(?:{_PORT})?)?"
        f"(?:[/?#]{_VISIBLE}*)?{_BLANK}*$"
    )
}
EMAIL_PATTERN: dict[str, Any] = {
    "pattern": (
        f"^{_BLANK}*{_VISIBLE}+@[^{_CONTROLS}{_BLANKS}@]*[.][^{_CONTROLS}{_BLANKS}@]*{_BLANK}*$"
    )
}
PHONE_PATTERN: dict[str, Any] = {"pattern": f"^{_BLANK}*[-0-9+ ()]*[0-9][-0-9+ ()]*{_BLANK}*$"}


def _checked(check: Callable[[str, str], str]) -> AfterValidator:
    def validate(value: str) -> str:
        try:
            result = check("value", value)
        except rules.RuleViolation as exc:
            raise _rule(exc) from None
        return result

    return AfterValidator(validate)


def _line(max_length: int) -> object:
    return Field(max_length=max_length, json_schema_extra=SINGLE_LINE)


Url = Annotated[
    str,
    Field(max_length=rules.MAX_URL_LENGTH, json_schema_extra=URL_PATTERN),
    _checked(rules.check_url),
]
Username = Annotated[str, _line(rules.MAX_USERNAME), _text(rules.MAX_USERNAME)]
Name = Annotated[str, _line(rules.MAX_CONTACT_NAME), _text(rules.MAX_CONTACT_NAME)]
Email = Annotated[
    str,
    Field(max_length=rules.MAX_EMAIL, json_schema_extra=EMAIL_PATTERN),
    _checked(rules.check_email),
]
Phone = Annotated[
    str,
    Field(max_length=rules.MAX_PHONE, json_schema_extra=PHONE_PATTERN),
    _checked(rules.check_phone),
]
Platform = Annotated[str, _line(rules.MAX_PLATFORM), _text(rules.MAX_PLATFORM)]
Description = Annotated[
    str,
    Field(max_length=rules.MAX_DESCRIPTION, json_schema_extra=MULTI_LINE),
    _text(rules.MAX_DESCRIPTION, multiline=True),
]


class ContactIn(BaseModel):
    """How the hotline may reach the reporter — all optional, none needed."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None

    def as_dict(self) -> dict[str, str] | None:
        data = {k: v for k, v in self.model_dump().items() if v}
        return data or None


class ReportIn(BaseModel):
    """A new report. Unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "sextortion",
                    "description": "Someone threatens to share my photos unless I pay.",
                    "urls": ["https://example.com/profile/someone"],
                    "child_in_danger": False,
                    "child_age_range": "13_15",
                    "platform": "Example chat",
                    "usernames": ["someone123"],
                    "language": "pl",
                }
            ]
        },
    )

    category: rules.Category
    description: Description = ""
    urls: list[Url] = Field(default_factory=list, max_length=rules.MAX_URLS)
    child_in_danger: StrictBool = False
    child_age_range: rules.AgeRange | None = None
    platform: Platform | None = None
    usernames: list[Username] = Field(default_factory=list, max_length=rules.MAX_USERNAMES)
    contact: ContactIn | None = None
    language: Literal["pl", "en"] = "pl"

    def to_new_report(self, source: str) -> NewReport:
        """The service's view of this request."""
        return NewReport(
            category=self.category,
            description=self.description,
            urls=tuple(self.urls),
            child_in_danger=self.child_in_danger,
            child_age_range=self.child_age_range,
            platform=self.platform or None,
            usernames=tuple(u for u in self.usernames if u),
            contact=self.contact.as_dict() if self.contact else None,
            language=self.language,
            source=source,
        )


class ReportCreated(BaseModel):
    """The answer to a new report: keep the reference and the PIN."""

    reference: str = Field(examples=["TZ-7K2M-9QXP"])
    pin: str = Field(examples=["493027"])
    status: rules.Status


class MessageOut(BaseModel):
    """A message from the staff: when, and what."""

    at: datetime
    text: str


class InformationIn(BaseModel):
    """More for a report, from whoever holds its reference and PIN: a message and/or links."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(default="", max_length=5000)
    urls: list[str] = Field(default_factory=list, max_length=20)


class ReportStatus(BaseModel):
    """All that a reference and PIN reveal: where the work stands, since when, what comes next."""

    reference: str
    status: rules.Status = Field(
        description="The stage in the older, coarser vocabulary (kept for existing clients)."
    )
    stage: rules.PublicStage = Field(
        description="received, in_assessment, action_taken, passed_to_police, "
        "content_removed or closed"
    )
    changed_at: datetime = Field(description="When the stage last changed (UTC).")
    next_step: str = Field(
        description="One plain sentence of what happens next, in the language asked for."
    )
    language: Literal["pl", "en"]
    messages: list[MessageOut] = Field(
        default_factory=list, description="Questions and messages the staff wrote to you."
    )

    @classmethod
    def of(cls, reference: str, public: PublicStatus, language: str) -> ReportStatus:
        """The answer for ``public`` with its sentence in ``language`` (pl or en)."""
        tr = i18n.translator(language)
        return cls(
            reference=reference,
            status=public.status,
            stage=public.stage,
            changed_at=public.changed_at,
            next_step=tr.gettext(public.next_step),
            language="en" if tr.language == "en" else "pl",
            messages=[MessageOut(at=m.at, text=m.text) for m in public.messages],
        )


class ErrorItem(BaseModel):
    """One problem with a request: where (``loc``) and why (``msg``)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """The body of a 422 answer."""

    detail: list[ErrorItem]


class MessageBody(BaseModel):
    """The body of other error answers."""

    detail: str


class HelpNumber(BaseModel):
    """A number to call, and when."""

    number: str
    name: str
    when: str


class RateLimitedBody(BaseModel):
    """The body of a 429: why, when to try again, and where to get help meanwhile."""

    detail: str
    retry_after: int | None = None
    help: list[HelpNumber] | None = None
