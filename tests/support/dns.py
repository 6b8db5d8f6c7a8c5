"""A real DNS server on 127.0.0.1 for tests (dnslib), answering from a zone that can change."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dnslib import AAAA, QTYPE, RCODE, RR, A  # type: ignore[import-untyped]
from dnslib.dns import DNSError  # type: ignore[import-untyped]
from dnslib.server import BaseResolver, DNSServer  # type: ignore[import-untyped]

#: What :meth:`LocalDns.fail` can make the server do for a name instead of answering from it.
FAILURES = ("SERVFAIL", "REFUSED", "silent")


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def _key(host: str) -> str:
    return host.lower().rstrip(".")


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(
        self,
        zone: dict[str, list[str]],
        failures: dict[str, tuple[str, str | None]],
        lock: threading.Lock,
    ) -> None:
        self.zone = zone
        self.failures = failures
        self.lock = lock

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = _key(str(request.q.qname))
        with self.lock:
            addresses = self.zone.get(name)
            failure, only = self.failures.get(name, (None, None))
        if only is not None and QTYPE[request.q.qtype] != only:
            failure = None
        if failure == "silent":
            raise DNSError("silent")  # dnslib's handler logs it and sends nothing back
        if failure is not None:
            reply.header.rcode = getattr(RCODE, failure)
            return reply
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        want = QTYPE[request.q.qtype]
        for address in addresses:
            version = ipaddress.ip_address(address).version
            if want == "A" and version == 4:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=5))
            elif want == "AAAA" and version == 6:
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=5))
        return reply


class LocalDns:
    """UDP and TCP DNS on 127.0.0.1; ``nameserver`` is what the resolver settings take."""

    def __init__(self, zone: Mapping[str, Sequence[str]]) -> None:
        self._lock = threading.Lock()
        self._zone = {_key(k): list(v) for k, v in zone.items()}
        self._failures: dict[str, tuple[str, str | None]] = {}
        self.port = _free_port()
        self.nameserver = f"127.0.0.1:{self.port}"
        resolver = _ZoneResolver(self._zone, self._failures, self._lock)
        self._servers = [
            DNSServer(resolver, address="127.0.0.1", port=self.port, tcp=tcp, logger=_Quiet())
            for tcp in (False, True)
        ]

    def __enter__(self) -> LocalDns:
        for server in self._servers:
            server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()

    def set(self, host: str, addresses: Sequence[str]) -> None:
        with self._lock:
            self._zone[_key(host)] = list(addresses)

    def remove(self, host: str) -> None:
        with self._lock:
            self._zone.pop(_key(host), None)

    def fail(self, host: str, how: str = "SERVFAIL", *, only: str | None = None) -> None:
        """Answer questions about ``host`` (of type ``only``, e.g. ``"AAAA"``; default every
        type) with ``SERVFAIL`` or ``REFUSED``, or not at all (``"silent"``), until
        :meth:`heal`; the zone's entry is kept."""
        if how not in FAILURES:
            raise ValueError(f"how must be one of {FAILURES}")
        with self._lock:
            self._failures[_key(host)] = (how, only)

    def heal(self, host: str) -> None:
        """Answer from the zone again for ``host``."""
        with self._lock:
            self._failures.pop(_key(host), None)


class _Quiet:
    """dnslib's logger interface, silent."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None
