"""Notices by e-mail: rendered in Polish and English, addressed safely, sent by real SMTP.

Every message goes to :class:`CapturingSmtp`, an aiosmtpd server on 127.0.0.1, and is read
back as a recipient's mail program would parse it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarcza.config import Settings
from tarcza.hotline.notices import (
    AbuseDirectory,
    AbuseDirectoryError,
    NoContact,
    NoticeFacts,
    NoticeFailed,
    SmtpSettings,
    abuse_contact,
    build_message,
    default_abuse_directory,
    language_for,
    load_abuse_directory,
    render,
    send,
)
from tarcza.hotline.rules import MAILED, Action, Classification, ContentType, SiteType
from tests.support.server import free_port
from tests.support.smtp import CapturingSmtp

SENDER = "dyzurnet@example.org"
ABUSE = "abuse@example.test"
FACTS = NoticeFacts(
    reference="DN-2026-000042",
    url="https://img.cdn.example.test/galeria/zdjęcie-7.jpg?id=19",
    host="img.cdn.example.test",
    classification=Classification.BASELINE,
    content_type=ContentType.IMAGE,
    site_type=SiteType.IMAGE_HOST,
    addresses=("127.0.0.1", "2001:db8::7"),
    country="PL",
    operator="EXAMPLE HOSTING SP. Z O.O.",
    first_reported_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    assessed_at=datetime(2026, 3, 1, 11, 5, tzinfo=UTC),
    attempt=1,
    hotline_name="Dyżurnet.pl (NASK)",
    hotline_email=SENDER,
)
KINDS = sorted(MAILED)
LANGUAGES = ["pl", "en"]
WHEN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def smtp_to(server: CapturingSmtp, username: str = "", password: str = "") -> SmtpSettings:
    return SmtpSettings(server.host, server.port, False, username, password, timeout=3.0)


def sent_and_captured(server: CapturingSmtp, message: EmailMessage) -> tuple[str, EmailMessage]:
    before = len(server.messages)
    message_id = send(message, smtp_to(server))
    return message_id, server.wait_for(before + 1)[before]


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attempt", [1, 2])
def test_every_notice_names_every_fact(kind: Action, language: str, attempt: int) -> None:
    subject, body = render(kind, replace(FACTS, attempt=attempt), language)

    assert FACTS.reference in subject and FACTS.url in subject
    for fact in (FACTS.reference, FACTS.url, FACTS.host, FACTS.operator, FACTS.hotline_name):
        assert fact and fact in body
    assert "127.0.0.1, 2001:db8::7" in body
    assert "2026-03-01 09:30 UTC" in body and "2026-03-01 11:05 UTC" in body
    assert SENDER in body and "INHOPE" in body
    for leftover in ("{{", "}}", "{%", "%}", "{#"):
        assert leftover not in subject + body
    assert not subject.startswith("Subject:") and "\n" not in subject
    assert body.endswith("\n") and not body.startswith("\n")


def test_polish_notice_is_polish_and_cites_the_criminal_code() -> None:
    subject, body = render(Action.NOTICE_AND_TAKEDOWN, FACTS, "pl")

    assert "Wezwanie do usunięcia" in subject
    assert "Szanowni Państwo" in body and "Z poważaniem" in body
    assert "art. 202" in body and "Kodeks karny" in body
    assert "INTERPOL" in body and "nielegalne w każdym kraju" in body
    assert "niezwłoczne usunięcie" in body and "organów ścigania" in body
    assert "niepowiadamianie osoby" in body and "numeru referencyjnego" in body


def test_national_classification_is_worded_as_polish_law() -> None:
    national = replace(FACTS, classification=Classification.NATIONAL)

    _, english = render(Action.NOTICE_PROVIDER, national, "en")
    _, polish = render(Action.NOTICE_AND_TAKEDOWN, national, "pl")

    assert "illegal under Polish law" in english and "baseline" not in english
    assert "nielegalne w świetle prawa polskiego (art. 202 ustawy – Kodeks karny)" in polish


def test_english_notice_asks_for_removal_preservation_and_silence() -> None:
    _, body = render(Action.NOTICE_AND_TAKEDOWN, FACTS, "en")

    assert "meeting INTERPOL's baseline criteria, illegal in every country" in body
    assert "a member of INHOPE" in body
    assert "disable access to it expeditiously" in body
    assert "preserve the content" in body and "law enforcement" in body
    assert "not notify the uploader" in body
    assert f"quoting the reference {FACTS.reference}" in body


def test_forward_asks_the_partner_to_act_under_its_procedures() -> None:
    _, body = render(Action.FORWARD_PARTNER_HOTLINE, replace(FACTS, country="DE"), "en")

    assert "content hosted in your country (DE)" in body
    assert "Please act under your procedures" in body


def test_direct_notice_says_why_it_comes_directly() -> None:
    _, body = render(Action.NOTICE_PROVIDER, replace(FACTS, country=None), "en")

    assert "writing to you directly" in body
    assert "could not determine the country" in body
    assert "Country:         unknown" in body


@pytest.mark.parametrize("kind", KINDS)
def test_second_attempt_is_a_reminder_of_the_first_notice(kind: Action) -> None:
    reminder = replace(FACTS, attempt=2)

    en_subject, en_body = render(kind, reminder, "en")
    pl_subject, pl_body = render(kind, reminder, "pl")
    first_subject, _ = render(kind, FACTS, "en")

    assert en_subject.startswith(f"[{FACTS.reference}] Reminder 1:") and en_subject != first_subject
    assert "known of the content at the URL below since 2026-03-01 09:30 UTC" in en_body
    assert "still online" in en_body
    worded = {
        Action.NOTICE_AND_TAKEDOWN: "our notice and takedown request with the reference",
        Action.FORWARD_PARTNER_HOTLINE: "our forwarded report with the reference",
        Action.NOTICE_PROVIDER: "our notice with the reference",
    }[kind]
    assert worded in " ".join(en_body.split())
    assert "Przypomnienie nr 1" in pl_subject
    assert "są nam znane od\n2026-03-01 09:30 UTC" in pl_body


def test_third_attempt_counts_the_reminders() -> None:
    subject, _ = render(Action.NOTICE_AND_TAKEDOWN, replace(FACTS, attempt=3), "en")

    assert "Reminder 2:" in subject


def test_render_refuses_what_is_not_a_notice() -> None:
    with pytest.raises(ValueError, match="not a notice"):
        render(Action.REFER_POLICE, FACTS, "en")
    with pytest.raises(ValueError, match="'de'"):
        render(Action.NOTICE_PROVIDER, FACTS, "de")
    for legal in (Classification.NOT_ILLEGAL, Classification.NOT_ASSESSABLE):
        with pytest.raises(ValueError, match="no notice"):
            render(Action.NOTICE_AND_TAKEDOWN, replace(FACTS, classification=legal), "pl")


def test_facts_with_line_breaks_stay_on_their_line() -> None:
    forged = replace(FACTS, operator="EXAMPLE\nReference: FAKE-1\r\nURL: https://x.example.org/")

    _, body = render(Action.NOTICE_AND_TAKEDOWN, forged, "en")

    assert "\nReference: FAKE-1" not in body and "\nURL: https://x" not in body
    assert "Network:         EXAMPLE Reference: FAKE-1" in body


@pytest.mark.parametrize(
    ("country", "home", "language"),
    [("PL", "PL", "pl"), ("pl", "PL", "pl"), ("DE", "PL", "en"), (None, "PL", "en"),
     ("DE", "DE", "en"), ("", "PL", "en")],
)  # fmt: skip
def test_language_follows_the_recipients_country(
    country: str | None, home: str, language: str
) -> None:
    assert language_for(country, home) == language


# --- abuse contacts --------------------------------------------------------------------------

DIRECTORY = load_abuse_directory(
    """
[operator."Example Hosting Sp. z o.o."]
email = "noc@example-hosting.example.org"

[domain."example.net"]
email = "abuse-desk@example.net"
"""
)


def test_operator_entry_wins_in_any_case() -> None:
    found = abuse_contact("www.example.net", "EXAMPLE  HOSTING SP. Z O.O.", DIRECTORY)

    assert found == "noc@example-hosting.example.org"


def test_domain_entry_for_the_registrable_domain() -> None:
    assert abuse_contact("cdn.img.Example.NET", "Other Operator", DIRECTORY) == (
        "abuse-desk@example.net"
    )


def test_rfc_2142_abuse_address_otherwise() -> None:
    assert abuse_contact("a.b.example.co.uk", None, DIRECTORY) == "abuse@example.co.uk"
    assert abuse_contact("www.example.org", "Unknown", DIRECTORY) == "abuse@example.org"


@pytest.mark.parametrize("host", ["127.0.0.1", "[2001:db8::1]", "2001:db8::1", "localhost", "com"])
def test_no_contact_for_hosts_without_a_domain(host: str) -> None:
    with pytest.raises(NoContact) as raised:
        abuse_contact(host, None, DIRECTORY)
    assert raised.value.host == host


def test_an_ip_literal_host_reaches_its_operator() -> None:
    found = abuse_contact("198.51.100.7", "example hosting sp. z o.o.", DIRECTORY)

    assert found == "noc@example-hosting.example.org"


def test_shipped_directory_covers_the_test_domain() -> None:
    shipped = default_abuse_directory()

    assert abuse_contact("www.example.test", None, shipped) == ABUSE
    assert shipped.contact_for(None, "Example Hosting Sp. z o.o.") == (
        "abuse@example-hosting.example.org"
    )
    assert isinstance(shipped, AbuseDirectory)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[domain."example.org"]\nemail = "a@example.org"\nemial = "b@example.org"\n',
         'domain."example.org".emial', 1),
        ('\n\n[operator."X NET"]\nemail = "not an address"\n', 'operator."X NET".email', 3),
        ('[operator."X"]\nemail = "Abuse <a@example.org>"\n', 'operator."X".email', 1),
        ('[operator."X"]\nemail = "a@example.org, b@example.org"\n', 'operator."X".email', 1),
        ('[domain."Example.ORG"]\nemail = "a@example.org"\n', 'domain."Example.ORG"', 1),
        ('[operator."Y"]\nemail = "a@example.org"\n\n[operator."y"]\nemail = "b@example.org"\n',
         'operator."y"', 4),
        ('[hosts."x"]\nemail = "a@example.org"\n', "hosts", None),
        ("[domain\nemail = 1\n", "(file)", None),
    ],
)  # fmt: skip
def test_directory_errors_name_key_and_line(text: str, key: str, line: int | None) -> None:
    with pytest.raises(AbuseDirectoryError) as raised:
        load_abuse_directory(text)

    assert raised.value.key == key
    assert raised.value.line == line
    if line:
        assert str(raised.value).startswith(f"line {line}, {key}:")


def test_directory_error_for_invalid_toml_says_so() -> None:
    with pytest.raises(AbuseDirectoryError, match="not valid TOML"):
        load_abuse_directory("email = = 1")


# --- the message -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["a@b.pl\r\nBcc: x@y.pl", "A <a@b.pl>", "a@b.pl, c@d.pl", "a.b.pl", "a@b.pl\n", "", "a@b",
     "a@@b.pl", '"a b"@b.pl', "a@b.pl;c@d.pl", "żółw@b.pl"],
)  # fmt: skip
def test_header_injection_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="single plain e-mail address"):
        build_message(Action.NOTICE_AND_TAKEDOWN, FACTS, "en", sender=SENDER, recipient=address)
    with pytest.raises(ValueError, match="single plain e-mail address"):
        build_message(Action.NOTICE_AND_TAKEDOWN, FACTS, "en", sender=address, recipient=ABUSE)


def test_message_headers() -> None:
    message = build_message(
        Action.NOTICE_AND_TAKEDOWN, FACTS, "pl", sender=SENDER, recipient=ABUSE, now=WHEN
    )

    assert message["To"] == ABUSE and message["Reply-To"] == SENDER
    assert message["From"].addresses[0].display_name == "Dyżurnet.pl (NASK)"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["Message-ID"].endswith("@example.org>")
    assert parsedate_to_datetime(message["Date"]) == WHEN
    assert message["Date"].endswith("+0000")
    assert message["X-Tarcza-Reference"] == FACTS.reference
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"


def test_sent_notice_arrives_with_its_polish_text(smtp_server: CapturingSmtp) -> None:
    message = build_message(Action.NOTICE_AND_TAKEDOWN, FACTS, "pl", sender=SENDER, recipient=ABUSE)
    subject, body = render(Action.NOTICE_AND_TAKEDOWN, FACTS, "pl")

    message_id, captured = sent_and_captured(smtp_server, message)

    assert smtp_server.envelopes[-1] == (SENDER, [ABUSE])
    assert message_id == captured["Message-ID"] == message["Message-ID"]
    assert captured["Subject"] == subject
    assert "Wezwanie do usunięcia nielegalnych treści" in captured["Subject"]
    assert body_of(captured) == body
    assert "Szanowni Państwo" in body_of(captured) and "Z poważaniem" in body_of(captured)
    assert captured["From"].addresses[0].display_name == "Dyżurnet.pl (NASK)"
    assert captured["X-Tarcza-Reference"] == FACTS.reference
    raw = smtp_server.raw[-1]
    assert raw.isascii()  # SMTPUTF8 off: encoded headers, quoted-printable body
    assert b"password" not in raw.lower()


def test_nothing_listening_is_a_failed_notice() -> None:
    message = build_message(Action.NOTICE_PROVIDER, FACTS, "en", sender=SENDER, recipient=ABUSE)
    closed = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2.0)

    with pytest.raises(NoticeFailed) as raised:
        send(message, closed)

    assert "connection refused" in raised.value.reason
    assert str(closed.port) in raised.value.reason


def test_silent_server_is_a_timeout() -> None:
    message = build_message(Action.NOTICE_PROVIDER, FACTS, "en", sender=SENDER, recipient=ABUSE)
    with socket.socket() as silent:  # accepts connections in its backlog, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]

        with pytest.raises(NoticeFailed) as raised:
            send(message, SmtpSettings(host="127.0.0.1", port=port, timeout=0.3))

    assert "no answer" in raised.value.reason


@pytest.mark.parametrize(
    ("stage", "code", "text"),
    [("data", 550, "mailbox unavailable"), ("rcpt", 553, "no such user here"),
     ("data", 451, "try again later")],
)  # fmt: skip
def test_server_refusal_is_a_failed_notice_with_the_code(
    smtp_server: CapturingSmtp, stage: str, code: int, text: str
) -> None:
    message = build_message(Action.NOTICE_PROVIDER, FACTS, "en", sender=SENDER, recipient=ABUSE)
    before = len(smtp_server.messages)
    smtp_server.refuse_next(code, text, stage="rcpt" if stage == "rcpt" else "data")

    with pytest.raises(NoticeFailed) as raised:
        send(message, smtp_to(smtp_server))

    assert raised.value.reason == f"{code} {text}"
    assert len(smtp_server.messages) == before
    send(message, smtp_to(smtp_server))  # the refusal was for one message only
    assert len(smtp_server.wait_for(before + 1)) == before + 1


def test_failure_never_shows_the_password(smtp_server: CapturingSmtp) -> None:
    message = build_message(Action.NOTICE_PROVIDER, FACTS, "en", sender=SENDER, recipient=ABUSE)
    secret = "s3cret-password-Zażółć"
    smtp = smtp_to(smtp_server, username="dyzurnet", password=secret)

    with pytest.raises(NoticeFailed) as raised:  # the test server offers no AUTH
        send(message, smtp)

    assert secret not in str(raised.value) and secret not in raised.value.reason
    assert secret not in repr(smtp)


def test_smtp_settings_come_from_the_deployment() -> None:
    deployment = Settings(
        smtp_host="mail.example.org",
        smtp_port=587,
        smtp_starttls=True,
        smtp_username="dyzurnet",
        smtp_password="pw",
        smtp_timeout_seconds=4.5,
        _env_file=None,  # type: ignore[call-arg]
    )

    assert SmtpSettings.from_settings(deployment) == SmtpSettings(
        "mail.example.org", 587, True, "dyzurnet", "pw", 4.5
    )


# --- property: no header injection, the body arrives as rendered -----------------------------

HEADERS = {
    "from", "to", "reply-to", "subject", "date", "message-id", "x-tarcza-reference",
    "auto-submitted", "content-type", "content-transfer-encoding", "mime-version",
}  # fmt: skip
ANY_TEXT = st.characters(exclude_categories=["Cs"])  # every character that has UTF-8


def visible(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reference=st.text(ANY_TEXT, min_size=1, max_size=60),
    path=st.text(ANY_TEXT, max_size=300),
    operator=st.none() | st.text(ANY_TEXT, max_size=100),
)
def test_facts_never_inject_headers_and_the_body_round_trips(
    smtp_server: CapturingSmtp, reference: str, path: str, operator: str | None
) -> None:
    facts = replace(
        FACTS, reference=reference, url=f"https://x.example.test/{path}", operator=operator
    )
    message = build_message(Action.NOTICE_AND_TAKEDOWN, facts, "pl", sender=SENDER, recipient=ABUSE)
    _, body = render(Action.NOTICE_AND_TAKEDOWN, facts, "pl")

    _, captured = sent_and_captured(smtp_server, message)

    assert sorted(name.lower() for name in captured) == sorted(HEADERS)
    assert smtp_server.envelopes[-1] == (SENDER, [ABUSE])
    assert visible(captured["X-Tarcza-Reference"]) == visible(reference)
    assert visible(reference) in visible(captured["Subject"])
    assert body_of(captured) == body
