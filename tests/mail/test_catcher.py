"""The mail catcher keeps each message as it is, in a private Maildir, and reads it back."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tarcza.hotline.notices import NoticeFacts, NoticeFailed, build_message
from tarcza.hotline.rules import Action, Classification, ContentType, SiteType
from tarcza.mail.catcher import MailCatcher, MailNotFound

FACTS = NoticeFacts(
    reference="DN-2026-000007",
    url="https://galeria.demo.example/demo/gallery/1",
    host="galeria.demo.example",
    classification=Classification.BASELINE,
    content_type=ContentType.IMAGE,
    site_type=SiteType.IMAGE_HOST,
    addresses=("127.0.0.1",),
    country="PL",
    operator=None,
    first_reported_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    assessed_at=datetime(2026, 3, 1, 11, 5, tzinfo=UTC),
    attempt=1,
    hotline_name="Dyżurnet.pl (NASK)",
    hotline_email="dyzurnet@example.org",
)


def plain(
    subject: str, body: str = "Invented text.\n", to: str = "abuse@demo.example"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "dyzurnet@example.org"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
    message["Message-ID"] = f"<{abs(hash(subject))}@example.org>"
    message.set_content(body)
    return message


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask, under which files are made world-readable unless narrowed."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_notice_is_stored_and_read_back_as_it_was(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "var" / "mail")
    message = build_message(
        Action.NOTICE_AND_TAKEDOWN,
        FACTS,
        "pl",
        sender="dyzurnet@example.org",
        recipient="abuse@demo.example",
        now=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    )

    assert catcher.send(message) is None

    [caught] = catcher.messages()
    assert caught.subject == str(message["Subject"])
    assert "galeria.demo.example" in caught.subject
    assert caught.message_id == str(message["Message-ID"])
    assert caught.sender == '"Dyżurnet.pl (NASK)" <dyzurnet@example.org>'
    assert caught.recipients == "abuse@demo.example"
    assert caught.date == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    # The body is decoded from quoted-printable: Polish letters and the URL read as written.
    assert "https://galeria.demo.example/demo/gallery/1" in caught.text
    assert "DN-2026-000007" in caught.text
    assert caught.text == message.get_content()
    assert catcher.message(caught.key) == caught
    # Stored byte for byte as it would have gone out.
    [path] = (tmp_path / "var" / "mail" / "new").iterdir()
    assert path.read_bytes() == message.as_bytes(policy=message.policy.clone(linesep="\n"))


def test_messages_are_listed_newest_first(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "mail")
    for n in range(5):
        catcher.send(plain(f"Notice {n}"))

    assert [m.subject for m in catcher.messages()] == [f"Notice {n}" for n in (4, 3, 2, 1, 0)]
    assert [m.subject for m in catcher.messages(limit=2)] == ["Notice 4", "Notice 3"]
    assert catcher.count() == 5


def test_an_empty_catcher_lists_nothing_and_makes_no_folder(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "mail")

    assert catcher.messages() == [] and catcher.count() == 0
    with pytest.raises(MailNotFound):
        catcher.message("1700000000.M1P1Q1.host")
    assert not (tmp_path / "mail").exists()


@pytest.mark.parametrize("key", ["", "../../etc/passwd", "new/x", "x" * 300, "1.M1P1Q1.nowhere"])
def test_an_unknown_key_is_not_found(tmp_path: Path, key: str) -> None:
    catcher = MailCatcher(tmp_path / "mail")
    catcher.send(plain("Notice"))

    with pytest.raises(MailNotFound):
        catcher.message(key)


def test_the_folder_is_private_and_every_file_is_0600(tmp_path: Path, umask_022: None) -> None:
    folder = tmp_path / "mail"
    catcher = MailCatcher(folder)
    catcher.send(plain("One"))
    catcher.send(plain("Two"))

    for path in (folder, folder / "new", folder / "cur", folder / "tmp"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    files = list((folder / "new").iterdir())
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_folder_made_too_open_is_narrowed(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    for sub in ("", "new", "cur", "tmp"):
        (folder / sub).mkdir(mode=0o777, exist_ok=True)
        os.chmod(folder / sub, 0o777)

    MailCatcher(folder).send(plain("One"))

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "new").stat().st_mode) == 0o700


def test_a_subject_that_looks_like_a_header_stays_the_subject(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "mail")
    catcher.send(plain("Notice Bcc: everyone@example.net " + "x" * 120))

    [caught] = catcher.messages()
    assert caught.subject.startswith("Notice Bcc: everyone@example.net")
    raw = next((tmp_path / "mail" / "new").iterdir()).read_bytes()
    assert b"\nBcc:" not in raw


def test_a_line_break_cannot_be_set_in_a_header() -> None:
    message = EmailMessage()
    with pytest.raises(ValueError):
        message["Subject"] = "Notice\r\nBcc: everyone@example.net"


def test_a_message_whose_header_would_make_another_is_refused(tmp_path: Path) -> None:
    # The old compat32 policy lets a line break into a value: the catcher must not store it.
    message = EmailMessage(policy=policy.compat32)
    message["From"] = "dyzurnet@example.org"
    message["To"] = "abuse@demo.example"
    message["Subject"] = "Notice\nBcc: everyone@example.net"
    message.set_payload("Invented text.\n")
    catcher = MailCatcher(tmp_path / "mail")

    with pytest.raises(NoticeFailed) as failed:
        catcher.send(message)

    assert "line break" in failed.value.reason
    assert catcher.count() == 0


@pytest.mark.parametrize("missing", ["From", "To"])
def test_a_message_without_sender_or_recipient_is_refused(tmp_path: Path, missing: str) -> None:
    message = plain("Notice")
    del message[missing]

    with pytest.raises(NoticeFailed):
        MailCatcher(tmp_path / "mail").send(message)


def test_a_message_with_only_html_shows_no_text(tmp_path: Path) -> None:
    message = plain("Notice")
    message.set_content("<p>Invented <a href='https://example.com/'>link</a></p>", subtype="html")
    catcher = MailCatcher(tmp_path / "mail")
    catcher.send(message)

    [caught] = catcher.messages()
    assert caught.text == ""


def test_two_catchers_on_one_folder_see_each_others_mail(tmp_path: Path) -> None:
    # The worker that sends and the web process that shows are different processes.
    writer, reader = MailCatcher(tmp_path / "mail"), MailCatcher(tmp_path / "mail")
    assert reader.count() == 0
    writer.send(plain("Notice"))

    assert [m.subject for m in reader.messages()] == ["Notice"]


def test_a_blank_line_smuggled_into_a_header_is_refused(tmp_path: Path) -> None:
    # No "Name:" follows the break, so only reading the message back shows the headers cut short.
    message = EmailMessage(policy=policy.compat32)
    message["From"] = "dyzurnet@example.org"
    message["Subject"] = "Notice\n\nSmuggled text"
    message["To"] = "abuse@demo.example"
    message.set_payload("Invented text.\n")
    catcher = MailCatcher(tmp_path / "mail")

    with pytest.raises(NoticeFailed) as failed:
        catcher.send(message)

    assert "line break" in failed.value.reason
    assert catcher.count() == 0


def test_a_folder_that_cannot_be_written_is_a_failure_to_retry(tmp_path: Path) -> None:
    blocked = tmp_path / "var"
    blocked.write_text("a file where the folder should be")

    with pytest.raises(NoticeFailed) as failed:
        MailCatcher(blocked / "mail").send(plain("Notice"))

    assert failed.value.reason.startswith("the mail catcher cannot write")
