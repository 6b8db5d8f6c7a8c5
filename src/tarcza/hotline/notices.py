"""The notices a hotline sends by e-mail, rendered from templates and handed to a transport.

A :class:`MailTransport` takes the finished message: :class:`SmtpTransport` in production, a
development mail catcher elsewhere. Each notice carries one Message-ID for all its copies
(:func:`new_message_id`, stored by the outbox before the first hand-off).

Four kinds of message: a notice-and-takedown to a hosting provider's abuse contact, a forward
to the partner hotline of the hosting country, a direct notice to a provider abroad, and a
reminder (any of these re-sent after an escalation). The wording lives in
``templates/notices/<language>/<kind>.txt`` (first line ``Subject: …``, a blank line, the
body). A notice carries only the facts of :class:`NoticeFacts`: never the content itself nor
anything about the person who reported it.

Abuse contacts come from ``data/abuse_contacts.toml`` and, failing that, RFC 2142's
``abuse@<registrable domain>``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import secrets
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined

from tarcza.hotline.rules import (
    ILLEGAL,
    MAILED,
    Action,
    Classification,
    ContentType,
    DataFileError,
    SiteType,
    _data_text,
    _line_of,
    _only_keys,
    _parse_toml,
)
from tarcza.hotline.urls import _PSL, UrlRefused, normalise

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tarcza.config import Settings

#: The languages notices are written in.
LANGUAGES = frozenset({"pl", "en"})
# The language of the home country's notices; every other recipient is written to in English.
_HOME_LANGUAGE = {"PL": "pl"}
# A single plain address: dot-atom local part (RFC 5322 atext), an ASCII domain with a dot.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]"
)
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]")
# The URL is shown in full in the body; the subject keeps a readable, bounded line.
_SUBJECT_URL_CHARS = 150


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """Everything a notice says about one content item; nothing else reaches the message."""

    reference: str  # the hotline's reference for the item, e.g. "DN-2026-000042"
    url: str  # the canonical URL of the content
    host: str
    classification: Classification
    content_type: ContentType
    site_type: SiteType
    addresses: tuple[str, ...]  # IP addresses the host resolved to at the trace
    country: str | None
    operator: str | None
    first_reported_at: datetime
    assessed_at: datetime
    attempt: int  # 1 = first notice; 2.. = reminder after escalation
    hotline_name: str  # e.g. "Dyżurnet.pl (NASK)"
    hotline_email: str  # the address replies reach


class NoContact(Exception):
    """No abuse contact is known for ``host`` (an IP address, or no registrable domain)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"no abuse contact is known for {host!r}")
        self.host = host


class NoticeFailed(Exception):
    """A notice the mail server did not take; ``reason`` is short and holds no secret.

    A refusal by the server starts with its SMTP code (``"550 mailbox unavailable"``).
    ``permanent`` says whether trying again cannot help: by default true exactly for a 5xx
    refusal (RFC 5321), false for a 4xx answer, no server, a timeout or a dropped line.
    """

    def __init__(self, reason: str, *, permanent: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = _is_permanent(reason) if permanent is None else permanent


def _is_permanent(reason: str) -> bool:
    code = reason[:3]
    return code.isdigit() and code.startswith("5") and reason[3:4] in ("", " ", "-")


# --- abuse contacts --------------------------------------------------------------------------


class AbuseDirectoryError(DataFileError):
    """An abuse-contact directory that cannot be used."""


@dataclass(frozen=True, slots=True)
class AbuseDirectory:
    """Abuse addresses by network operator (case-insensitive name) and by registrable domain."""

    operators: Mapping[str, str]  # folded operator name -> address
    domains: Mapping[str, str]  # lower-case registrable domain -> address

    def contact_for(self, registrable: str | None, operator: str | None) -> str | None:
        """The operator's entry, else the domain's entry, else None."""
        if operator:
            found = self.operators.get(_fold_name(operator))
            if found:
                return found
        if registrable:
            return self.domains.get(registrable.lower().rstrip("."))
        return None


def load_abuse_directory(toml_text: str) -> AbuseDirectory:
    """Read ``[operator."NAME"]`` and ``[domain."example.com"]`` tables, each with ``email``.

    Raises :class:`AbuseDirectoryError` naming the key and the line of its table for TOML
    that does not parse, unknown keys, an address that is not a single plain e-mail address,
    a domain that is not a lower-case ASCII domain name, or an operator listed twice.
    """
    document = _parse_toml(toml_text, AbuseDirectoryError)
    _only_keys(document, {"operator", "domain"}, "", AbuseDirectoryError)
    operators: dict[str, str] = {}
    for name, email in _entries(toml_text, document, "operator"):
        folded = _fold_name(name)
        if not folded or folded in operators:
            line = _table_line(toml_text, "operator", name)
            why = "is empty" if not folded else "is listed twice (names match in any case)"
            raise AbuseDirectoryError(f'operator."{name}"', why, line)
        operators[folded] = email
    domains: dict[str, str] = {}
    for name, email in _entries(toml_text, document, "domain"):
        if not _DOMAIN.fullmatch(name):
            line = _table_line(toml_text, "domain", name)
            raise AbuseDirectoryError(
                f'domain."{name}"', "must be a lower-case ASCII domain like example.com", line
            )
        domains[name] = email
    return AbuseDirectory(MappingProxyType(operators), MappingProxyType(domains))


def default_abuse_directory() -> AbuseDirectory:
    """The directory shipped in ``data/abuse_contacts.toml``."""
    return load_abuse_directory(_data_text("abuse_contacts.toml"))


def abuse_contact(host: str, operator: str | None, directory: AbuseDirectory) -> str:
    """The address a notice about content on ``host`` goes to.

    The directory's entry for ``operator`` first, then its entry for the host's registrable
    domain, then RFC 2142's ``abuse@<registrable domain>``. Raises :class:`NoContact` for an
    IP-literal host or a host with no registrable domain (``localhost``, a public suffix)
    that the directory does not cover.
    """
    registrable = _registrable(host)
    found = directory.contact_for(registrable, operator)
    if found:
        return found
    if registrable is None:
        raise NoContact(host)
    return f"abuse@{registrable}"


def _entries(text: str, document: Mapping[str, Any], table: str) -> list[tuple[str, str]]:
    """The ``(name, email)`` pairs of ``[table."name"]`` entries, each checked."""
    entries = document.get(table, {})
    if not isinstance(entries, dict):
        raise AbuseDirectoryError(table, 'must hold tables like [table."name"]')
    pairs: list[tuple[str, str]] = []
    for name, entry in entries.items():
        key, line = f'{table}."{name}"', _table_line(text, table, name)
        if not isinstance(entry, dict):
            raise AbuseDirectoryError(key, "must be a table with an email key", line)
        _only_keys(entry, {"email"}, key + ".", AbuseDirectoryError, line)
        email = entry.get("email")
        if not isinstance(email, str) or not _ADDRESS.fullmatch(email):
            raise AbuseDirectoryError(
                f"{key}.email", "must be a single plain e-mail address like abuse@example.org", line
            )
        pairs.append((name, email))
    return pairs


def _table_line(text: str, table: str, name: str) -> int | None:
    quoted = re.escape(name)
    return _line_of(text, rf"\[\s*{table}\s*\.\s*(?:\"{quoted}\"|'{quoted}'|{quoted})\s*\]")


def _fold_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _registrable(host: str) -> str | None:
    """The host's registrable domain, or None for an IP literal or a host that has none."""
    if _is_ip(host):
        return None
    try:
        parsed = normalise(f"http://{host.strip()}/")
    except UrlRefused:
        return None
    name = parsed.host.rstrip(".")
    # The WHATWG parser folds IPv4 spellings (0x7f.1), so look again after parsing.
    if _is_ip(name) or _PSL.privatesuffix(name) is None:
        return None
    return parsed.registrable.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


# --- rendering -------------------------------------------------------------------------------

_TEMPLATES = Environment(
    loader=PackageLoader("tarcza.hotline", "templates"),
    autoescape=False,  # noqa: S701 - plain-text e-mail, never HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def language_for(country: str | None, home_country: str) -> str:
    """The language of a notice to a recipient in ``country`` (ISO alpha-2, any case).

    The home language (``"pl"`` for a Polish deployment) for recipients in the home country,
    English for everyone else and when the country is unknown.
    """
    home = home_country.strip().upper()
    if country is not None and country.strip().upper() == home:
        return _HOME_LANGUAGE.get(home, "en")
    return "en"


def render(kind: Action, facts: NoticeFacts, language: str) -> tuple[str, str]:
    """The ``(subject, body)`` of a notice of ``kind`` in ``language``.

    ``facts.attempt`` of 2 or more renders the reminder. Raises ``ValueError`` for a kind that
    is not mailed, a language without templates, or a classification that is not illegal (no
    notice may go out about legal content).
    """
    if kind not in MAILED:
        raise ValueError(f"{kind} is not a notice that is mailed")
    if language not in LANGUAGES:
        raise ValueError(f"no notice templates in {language!r}")
    if facts.classification not in ILLEGAL:
        raise ValueError(f"no notice is sent about content assessed {facts.classification}")
    name = "reminder" if facts.attempt >= 2 else kind.value
    text = _TEMPLATES.get_template(f"notices/{language}/{name}.txt").render(_context(kind, facts))
    head, blank, body = text.partition("\n\n")
    if not head.startswith("Subject: ") or "\n" in head or not blank:
        raise RuntimeError(f"template notices/{language}/{name}.txt must start with a Subject")
    return head.removeprefix("Subject: ").strip(), body


def _context(kind: Action, facts: NoticeFacts) -> dict[str, Any]:
    """The template's variables: every fact on one line, dates in UTC."""
    url = _one_line(facts.url)
    short = url if len(url) <= _SUBJECT_URL_CHARS else url[: _SUBJECT_URL_CHARS - 1] + "…"
    return {
        "kind": kind.value,
        "reference": _one_line(facts.reference),
        "url": url,
        "subject_url": short,
        "host": _one_line(facts.host),
        "classification": facts.classification.value,
        "content_type": facts.content_type.value,
        "site_type": facts.site_type.value,
        "addresses": [_one_line(a) for a in facts.addresses],
        "country": _one_line(facts.country) if facts.country else None,
        "operator": _one_line(facts.operator) if facts.operator else None,
        "first_reported": _utc_text(facts.first_reported_at),
        "assessed": _utc_text(facts.assessed_at),
        "attempt": facts.attempt,
        "reminder_number": max(facts.attempt - 1, 1),
        "hotline_name": _one_line(facts.hotline_name),
        "hotline_email": _one_line(facts.hotline_email),
    }


def _one_line(text: str) -> str:
    """``text`` with every control, format and line-breaking character made a space."""
    return "".join(" " if _breaks_lines(ch) else ch for ch in text)


def _breaks_lines(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] == "C" or category in ("Zl", "Zp")


def _utc_text(moment: datetime) -> str:
    """``2026-03-01 12:00 UTC``; a naive datetime is taken as UTC (as the database stores it)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M UTC")


# --- the message -----------------------------------------------------------------------------


def build_message(
    kind: Action,
    facts: NoticeFacts,
    language: str,
    *,
    sender: str,
    recipient: str,
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """The notice as an e-mail from ``hotline_name <sender>`` to ``recipient``.

    Both addresses must be single plain addresses (``abuse@example.org``): anything with a
    display name, a comma, a line break or no ``@`` raises ``ValueError``, so no header can be
    injected. ``now`` (default: the current time) dates the message. ``message_id`` (from
    :func:`new_message_id`, stored with the notice so every copy carries the same one) is
    generated when not given.
    """
    _check_address("sender", sender)
    _check_address("recipient", recipient)
    if message_id is None:
        message_id = new_message_id("notice", 1, sender)
    elif not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"not a Message-ID: {message_id!r}")
    subject, body = render(kind, facts, language)
    message = EmailMessage(policy=policy.SMTP)  # utf8 off: headers are RFC 2047-encoded
    message["From"] = Address(display_name=_one_line(facts.hotline_name), addr_spec=sender)
    message["To"] = Address(addr_spec=recipient)
    message["Reply-To"] = Address(addr_spec=sender)
    message["Subject"] = subject
    message["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    message["Message-ID"] = message_id
    message["X-Tarcza-Reference"] = _one_line(facts.reference)
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit and short, whatever the server's extensions.
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message


def new_message_id(notice: int | str, attempt: int, sender: str) -> str:
    """A fresh, globally unique Message-ID for one notice: ``<notice-12.1.<token>@domain>``.

    ``notice`` is the notice's id, ``attempt`` its attempt (1, or 2… for a reminder); the
    domain is the sender's, so replies and bounces can be matched to the hotline.
    """
    _check_address("sender", sender)
    domain = sender.rsplit("@", 1)[1].lower()
    return f"<notice-{notice}.{attempt}.{secrets.token_hex(8)}@{domain}>"


# A Message-ID as new_message_id makes it (RFC 5322 msg-id, dot-atom both sides).
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.-]{1,253}>")


def _check_address(role: str, address: str) -> None:
    if not _ADDRESS.fullmatch(address) or len(address) > 254:
        raise ValueError(f"the {role} must be a single plain e-mail address, not {address!r}")


# --- sending ---------------------------------------------------------------------------------


class MailTransport(Protocol):
    """Where notices are handed over: SMTP in production, a mail catcher in development."""

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` over as it is; raises :class:`NoticeFailed` with the reason."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where notices are sent: the SMTP server, TLS and login; ``timeout`` in seconds."""

    host: str
    port: int
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings:
        """The SMTP settings of a deployment (``TARCZA_SMTP_*``)."""
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )

    def __repr__(self) -> str:  # the password must never reach a log
        return f"SmtpSettings(host={self.host!r}, port={self.port}, starttls={self.starttls})"


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    """The :class:`MailTransport` that hands notices to the SMTP server of ``smtp``."""

    smtp: SmtpSettings

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` by SMTP; raises :class:`NoticeFailed` (see :func:`send`)."""
        send(message, self.smtp)


def send(message: EmailMessage, smtp: SmtpSettings) -> str:
    """Hand ``message`` to the SMTP server; returns its Message-ID.

    Raises :class:`NoticeFailed` when the server cannot be reached, does not answer within
    ``smtp.timeout`` seconds, or refuses the login, sender, recipient or message (the reason
    then starts with the SMTP code).
    """
    where = f"{smtp.host}:{smtp.port}"
    try:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    except ConnectionRefusedError:
        raise NoticeFailed(f"connection refused by {where}") from None
    except (TimeoutError, smtplib.SMTPServerDisconnected):
        raise NoticeFailed(f"no answer from {where} within {smtp.timeout:g} s") from None
    except smtplib.SMTPResponseException as exc:  # a 554 greeting
        raise NoticeFailed(_refusal(exc.smtp_code, exc.smtp_error, smtp)) from None
    except OSError as exc:
        raise NoticeFailed(f"cannot connect to {where}: {exc.strerror or 'error'}") from None
    try:
        _deliver(client, message, smtp)
    finally:
        client.close()
    return str(message["Message-ID"])


def _deliver(client: smtplib.SMTP, message: EmailMessage, smtp: SmtpSettings) -> None:
    """Log in if asked, send, and turn every failure into :class:`NoticeFailed`."""
    where = f"{smtp.host}:{smtp.port}"
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise NoticeFailed(_refusal(code, text, smtp)) from None
    except smtplib.SMTPResponseException as exc:
        raise NoticeFailed(_refusal(exc.smtp_code, exc.smtp_error, smtp)) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected):
        raise NoticeFailed(f"{where} stopped answering") from None
    except smtplib.SMTPNotSupportedError:
        raise NoticeFailed(f"{where} does not offer STARTTLS or AUTH") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise NoticeFailed(f"{where}: {type(exc).__name__}") from None
    # The message is taken: a rude goodbye is no failure.
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()


def _refusal(code: int, text: bytes | str, smtp: SmtpSettings) -> str:
    """``"550 mailbox unavailable"``: one line, bounded, with the password scrubbed out."""
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    said = " ".join(_one_line(said).split())[:200]
    if smtp.password:
        said = said.replace(smtp.password, "***")
    return f"{code} {said}".strip()
