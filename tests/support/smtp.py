"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it is sent."""

from __future__ import annotations

import asyncio
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.server import free_port

Stage = Literal["rcpt", "data"]


class CapturingSmtp:
    """A context manager running an SMTP server on 127.0.0.1 at a free port.

    ``messages`` holds the messages received (parsed with ``email.policy.default``) and
    ``envelopes`` their ``(mail_from, rcpt_tos)``, both in arrival order; ``raw`` the bytes.

    :meth:`hold_next` makes the server keep the next message and then hold back its answer
    to DATA until :meth:`release`, so a test can kill the sender between hand-off and commit.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.raw: list[bytes] = []
        self._arrived = threading.Condition()
        self._refusal: tuple[Stage, str] | None = None
        self._hold_armed = False
        self._held: EmailMessage | None = None
        self._released = threading.Event()
        self._released.set()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def __enter__(self) -> CapturingSmtp:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()  # a held answer must not keep the server's loop from stopping
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """The first ``count`` messages, once they arrived; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} messages within {timeout} s, got {len(self.messages)}"
                    )
                self._arrived.wait(left)
            return list(self.messages[:count])

    def refuse_next(
        self, code: int = 550, text: str = "mailbox unavailable", *, stage: Stage = "data"
    ) -> None:
        """Answer the next RCPT TO or DATA (``stage``) with ``code text`` instead of 250."""
        with self._arrived:
            self._refusal = (stage, f"{code} {text}")

    def hold_next(self) -> None:
        """Keep the next message, then hold the answer to its DATA until :meth:`release`."""
        with self._arrived:
            self._hold_armed = True
            self._held = None
            self._released.clear()

    def wait_until_held(self, timeout: float = 5.0) -> EmailMessage:
        """The message whose answer is held, once one is; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self._held is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no message arrived to hold within {timeout} s "
                        f"({len(self.messages)} arrived before)"
                    )
                self._arrived.wait(left)
            return self._held

    def release(self) -> None:
        """Answer the held DATA (250); the sender may be gone by then."""
        self._released.set()

    def _take_hold(self) -> bool:
        with self._arrived:
            armed, self._hold_armed = self._hold_armed, False
            return armed

    def _note_held(self, message: EmailMessage) -> None:
        with self._arrived:
            self._held = message
            self._arrived.notify_all()

    def _take_refusal(self, stage: Stage) -> str | None:
        with self._arrived:
            if self._refusal is None or self._refusal[0] != stage:
                return None
            answer = self._refusal[1]
            self._refusal = None
            return answer

    def _keep(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> EmailMessage:
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.raw.append(data)
            self.messages.append(message)
            self.envelopes.append((mail_from, list(rcpt_tos)))
            self._arrived.notify_all()
        return message


class _Handler:
    """aiosmtpd's handler hooks, answering for :class:`CapturingSmtp`."""

    def __init__(self, owner: CapturingSmtp) -> None:
        self._owner = owner

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self._owner._take_refusal("rcpt")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._owner._take_refusal("data")
        if refusal:
            return refusal
        data = envelope.original_content or b""
        message = self._owner._keep(envelope.mail_from or "", envelope.rcpt_tos, data)
        if self._owner._take_hold():
            self._owner._note_held(message)
            # Wait in a thread: the server's event loop keeps serving other sessions.
            await asyncio.to_thread(self._owner._released.wait)
        return "250 Message accepted for delivery"
