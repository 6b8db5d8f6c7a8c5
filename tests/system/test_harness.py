"""The harness's own parts that need no tarcza process: the SMTP hold, the demo's table."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage

from tests.support.smtp import CapturingSmtp
from tests.system.harness import fold_repeats, parse_demo_sign_ins


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.test", "b@example.test", subject
    message["Message-ID"] = f"<{subject}@example.test>"
    message.set_content("test")
    return message


def test_a_held_answer_keeps_the_message_and_waits_for_release() -> None:
    answers: list[str] = []

    def send() -> None:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            client.send_message(_message("held"))
            answers.append("accepted")

    with CapturingSmtp() as smtp:
        smtp.hold_next()
        sender = threading.Thread(target=send)
        sender.start()
        held = smtp.wait_until_held(timeout=5)
        assert held["Subject"] == "held"
        assert [m["Subject"] for m in smtp.messages] == ["held"]  # kept before the answer
        sender.join(timeout=0.5)
        assert sender.is_alive() and answers == []  # the sender still waits for its answer
        smtp.release()
        sender.join(timeout=5)
        assert answers == ["accepted"]
        # Only the next message was held: the one after is answered at once.
        with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
            client.send_message(_message("after"))
        assert [m["Subject"] for m in smtp.wait_for(2)] == ["held", "after"]


def test_a_server_stopped_while_holding_lets_go() -> None:
    ended: list[str] = []

    def send() -> None:
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
                client.send_message(_message("cut"))
            ended.append("answered")
        except smtplib.SMTPServerDisconnected:
            ended.append("disconnected")

    with CapturingSmtp() as smtp:
        smtp.hold_next()
        sender = threading.Thread(target=send)
        sender.start()
        smtp.wait_until_held(timeout=5)
    sender.join(timeout=10)
    assert not sender.is_alive() and len(ended) == 1


def test_the_demo_sign_ins_are_read_from_its_table() -> None:
    output = """4 demo reports are loaded. Try the status page with:
  reference TZ-4XY9-VNP8  PIN 274125  (sextortion)
Demo staff sign-ins at /staff/login (for the demo only: never for real work):
  username agency    role           password                 TOTP secret
  anna     hotline   analyst        demo-tarcza-haslo-2025   LL4ECXYZISUPZV5D7MCT6Z4FXFD5AUX4
  marek    hotline   supervisor     demo-tarcza-haslo-2025   FR5EED262UEKCSQ2MOXQGQUYVI7ZBBTV
Add a secret to an authenticator app (or run: oathtool --totp -b SECRET).
"""
    sign_ins = parse_demo_sign_ins(output)
    assert set(sign_ins) == {"anna", "marek"}
    assert sign_ins["anna"].role == "analyst"
    assert sign_ins["anna"].password == "demo-tarcza-haslo-2025"
    assert sign_ins["marek"].totp_secret == "FR5EED262UEKCSQ2MOXQGQUYVI7ZBBTV"


def test_polled_log_lines_are_folded() -> None:
    lines = [
        'INFO:     127.0.0.1:1000 - "GET /staff/items/4 HTTP/1.1" 200 OK',
        'INFO:     127.0.0.1:1002 - "GET /staff/items/4 HTTP/1.1" 200 OK',
        'INFO:     127.0.0.1:1003 - "GET /staff/items/4 HTTP/1.1" 200 OK',
        "Traceback (most recent call last):",
    ]
    assert fold_repeats(lines) == [
        'INFO:     127.0.0.1:1000 - "GET /staff/items/4 HTTP/1.1" 200 OK   [x3]',
        "Traceback (most recent call last):",
    ]
