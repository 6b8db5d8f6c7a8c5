"""The development mail catcher: notices are kept in a Maildir on this machine, never sent.

:class:`MailCatcher` is a mail transport (``send(message)``, as the notice outbox's SMTP
transport) that stores each message as it is, one file per message, in a ``mailbox.Maildir``
(by default ``var/mail/``): the folder is 0700 and every file 0600, since a notice names the
reported URL. The hotline's staff read what was "sent" on ``/staff/mail`` (tarcza.mail.pages).

Files rather than a table: the catcher exists only in development, and needs no migration.
Development only: :func:`tarcza.mail.rules.check_offline_modes` refuses it in production.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from tarcza.hotline.notices import NoticeFailed

_DIR_MODE = 0o700
_FILE_MODE = 0o600
# Maildir's own sub-folders: tmp (being written), new (delivered), cur (seen; unused here).
_SUBDIRS = ("tmp", "new", "cur")
_LINE_BREAK = "a header value holds a line break that would start another header"
# The name mailbox.Maildir gives a message (its _create_tmp).
_MAILDIR_NAME = re.compile(r"(\d+)\.M(\d+)P\d+Q(\d+)\.")
# Longer than any key Maildir makes ("<seconds>.M<µs>P<pid>Q<n>.<host>"): refused unread.
_MAX_KEY = 255


class MailNotFound(LookupError):
    """No caught message has this key."""


@dataclass(frozen=True, slots=True)
class CaughtMail:
    """One caught message, as the page shows it; ``text`` is the plain-text body, decoded."""

    key: str  # the Maildir key: the message's name in /staff/mail/{key}
    stored_at: datetime  # when the catcher stored it (UTC)
    date: datetime | None  # the Date header, None when absent or unreadable
    sender: str
    recipients: str  # To and Cc, as written
    subject: str
    message_id: str
    text: str  # the first text/plain part; "" when there is none


class MailCatcher:
    """A mail transport that stores messages in the Maildir ``folder`` and reads them back.

    ``reader_agency``: the code of the agency whose staff may read the caught mail (the
    hotline that sends the notices: ``settings.intake_agency``). The folder is made on the
    first message.
    """

    def __init__(self, folder: Path, *, reader_agency: str = "hotline") -> None:
        self.folder = Path(folder)
        self.reader_agency = reader_agency

    def __repr__(self) -> str:
        return f"MailCatcher({str(self.folder)!r})"

    # -- the transport ----------------------------------------------------------------

    def send(self, message: EmailMessage) -> None:
        """Store ``message`` byte for byte as it would have gone out; nothing is sent.

        Raises :class:`NoticeFailed` for a message that is no mail (no From or no To, or a
        header value carrying a line break that would have made another header) and when the
        folder cannot be written.
        """
        data = _wire_bytes(message)
        try:
            box = self._made()
            key = box.add(data)
            # Maildir writes through the umask (0644 by default): narrow the file at once.
            # The folder is 0700, so nobody else could reach it in between.
            (self.folder / "new" / key).chmod(_FILE_MODE)
        except OSError as exc:  # a full disk, a folder of another user: worth a retry later
            raise NoticeFailed(
                f"the mail catcher cannot write: {exc.strerror or 'error'}"
            ) from None

    # -- reading ----------------------------------------------------------------------

    def messages(self, limit: int = 200) -> list[CaughtMail]:
        """The caught messages, newest first (by when they were stored), at most ``limit``."""
        box = self._existing()
        if box is None:
            return []
        stored = sorted(((self._arrival(key), key) for key in box.iterkeys()), reverse=True)
        return [self._read(box, key, arrival[0]) for arrival, key in stored[:limit]]

    def message(self, key: str) -> CaughtMail:
        """The message stored under ``key``; raises :class:`MailNotFound` for any other key."""
        box = self._existing()
        if box is None or not key or len(key) > _MAX_KEY or key not in set(box.iterkeys()):
            raise MailNotFound(key)
        return self._read(box, key, self._arrival(key)[0])

    def count(self) -> int:
        """How many messages are stored."""
        box = self._existing()
        return 0 if box is None else sum(1 for _ in box.iterkeys())

    # -- the folder -------------------------------------------------------------------

    def _existing(self) -> mailbox.Maildir | None:
        """The Maildir, or None before the first message made it."""
        if not (self.folder / "new").is_dir():
            return None
        return mailbox.Maildir(self.folder, factory=None, create=False)

    def _made(self) -> mailbox.Maildir:
        """The Maildir, made if need be; the folder and its three sub-folders 0700."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.folder, factory=None, create=True)
        for path in (self.folder, *(self.folder / sub for sub in _SUBDIRS)):
            path.chmod(_DIR_MODE)
        return box

    def _path(self, key: str) -> Path:
        """Where the file of ``key`` is: in new/ (the catcher never marks a message seen)."""
        path = self.folder / "new" / key
        if path.exists():
            return path
        # A mail reader pointed at the folder may have moved it to cur/ with flags.
        found = next(iter((self.folder / "cur").glob(f"{_glob_escape(key)}:*")), None)
        if found is None:
            raise MailNotFound(key)
        return found

    def _arrival(self, key: str) -> tuple[int, int]:
        """When ``key`` was stored (ns since the epoch), and Maildir's counter to break ties.

        Maildir names a message ``<seconds>.M<microseconds>P<pid>Q<counter>.<host>`` as it
        writes it: finer than a file's time, which the kernel keeps to a clock tick. A name of
        another form falls back on the file's time.
        """
        named = _MAILDIR_NAME.match(key)
        if named:
            seconds, micros, counter = (int(g) for g in named.groups())
            return seconds * 10**9 + micros * 1000, counter
        try:
            return self._path(key).stat().st_mtime_ns, 0
        except (MailNotFound, FileNotFoundError):
            return 0, 0

    def _read(self, box: mailbox.Maildir, key: str, stored_ns: int) -> CaughtMail:
        try:
            data = box.get_bytes(key)
        except KeyError:
            raise MailNotFound(key) from None
        parsed = BytesParser(policy=policy.default).parsebytes(data)
        recipients = ", ".join(str(v) for name in ("To", "Cc") for v in parsed.get_all(name, []))
        return CaughtMail(
            key=key,
            stored_at=datetime.fromtimestamp(stored_ns / 1e9, UTC),
            date=_date(parsed.get("Date")),
            sender=str(parsed.get("From", "")),
            recipients=recipients,
            subject=str(parsed.get("Subject", "")),
            message_id=str(parsed.get("Message-ID", "")),
            text=_text_body(parsed),
        )


def _wire_bytes(message: EmailMessage) -> bytes:
    """The message as it would go on the wire; refuses one whose headers do not survive it.

    Serialising and parsing back must give the same header names in the same order: a value
    holding a bare line break (possible under the compat32 policy) would add a header here.
    """
    if not message.get("From") or not message.get("To"):
        raise NoticeFailed("the message has no From or no To")
    try:
        # Maildir files end their lines in LF, as every mail reader of a Maildir expects.
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
    except MessageError:  # the generator's own check: an embedded header
        raise NoticeFailed(_LINE_BREAK) from None
    except (ValueError, TypeError, UnicodeError) as exc:
        raise NoticeFailed(f"the message cannot be written out: {type(exc).__name__}") from None
    again = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    if [k.lower() for k in again] != [k.lower() for k in message]:
        raise NoticeFailed(_LINE_BREAK)
    return data


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text_body(message: EmailMessage) -> str:
    """The first text/plain part, decoded from its transfer encoding and charset."""
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
