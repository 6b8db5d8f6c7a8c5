"""The built-in resolver: the demo's invented host names, answered from a table, offline.

It has the interface of :class:`tarcza.hotline.trace.Resolver` (``resolve(host)`` returning
addresses, raising :class:`HostNotFound` or :class:`ResolverFailed`) but sends no packet: the
answers come from ``data/demo_hosts.toml``, which lists names under the reserved ``.test`` and
``.example`` top-level domains and loopback addresses only. So a demo trace finds the content
"hosted here" and a demo re-check never leaves the machine.

Any name the table does not list is a :class:`ResolverFailed` (``builtin_unknown``), never
:class:`HostNotFound`: the monitor takes "not found" for a removal, and a name this resolver
merely does not know has not been removed. A name listed with no address (``[]``) is the demo's
site that has gone: it answers ``HostNotFound("nxdomain")``.

Development only: :func:`tarcza.mail.rules.check_offline_modes` refuses it in production.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from tarcza.hotline.rules import DataFileError, _data_text, _line_of, _only_keys, _parse_toml
from tarcza.hotline.trace import HostNotFound, ResolverFailed

#: What :class:`ResolverFailed` says for a name outside the table.
UNKNOWN_NAME = "the built-in resolver knows only the demo's hosts"
# Lower-case ASCII labels ending in a reserved top-level domain (RFC 2606 / RFC 6761).
_RESERVED_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:test|example)")


class DemoHostsError(DataFileError):
    """A table of demo hosts that cannot be used."""


def load_demo_hosts(toml_text: str) -> Mapping[str, tuple[str, ...]]:
    """Read ``[hosts]`` entries ``"name.example" = ["127.0.0.1", "::1"]``.

    Names must be lower-case ASCII under ``.test`` or ``.example``; addresses must be loopback
    (127.0.0.0/8 or ::1), each listed once. Raises :class:`DemoHostsError` naming the key and
    its line otherwise.
    """
    document = _parse_toml(toml_text, DemoHostsError)
    _only_keys(document, {"hosts"}, "", DemoHostsError)
    hosts = document.get("hosts", {})
    if not isinstance(hosts, dict):
        raise DemoHostsError("hosts", 'must be a table like [hosts] "a.demo.example" = [...]')
    table: dict[str, tuple[str, ...]] = {}
    for name, addresses in hosts.items():
        key = f'hosts."{name}"'
        line = _line_of(toml_text, rf"\"?{re.escape(name)}\"?\s*=")
        if not _RESERVED_NAME.fullmatch(name) or len(name) > 253:
            raise DemoHostsError(
                key, "must be a lower-case name under .test or .example (reserved names)", line
            )
        table[name] = _loopback_addresses(key, addresses, line)
    return MappingProxyType(table)


def _loopback_addresses(key: str, addresses: Any, line: int | None) -> tuple[str, ...]:
    """The entry's addresses, normalised; each must be loopback and listed once."""
    if not isinstance(addresses, list):
        raise DemoHostsError(key, 'must be a list of addresses like ["127.0.0.1"]', line)
    found: list[str] = []
    for raw in addresses:
        try:
            address = ipaddress.ip_address(raw) if isinstance(raw, str) else None
        except ValueError:
            address = None
        if address is None or not address.is_loopback:
            why = f"{raw!r} is not a loopback address (127.0.0.1, ::1): the demo stays here"
            raise DemoHostsError(key, why, line)
        if str(address) in found:
            raise DemoHostsError(key, f"{raw!r} is listed twice", line)
        found.append(str(address))
    return tuple(found)


def default_demo_hosts() -> Mapping[str, tuple[str, ...]]:
    """The table shipped in ``data/demo_hosts.toml``."""
    return load_demo_hosts(_data_text("demo_hosts.toml"))


class BuiltinResolver:
    """Answers the demo's host names from a table; sends no packet.

    ``hosts``: lower-case name -> addresses (default: the shipped ``demo_hosts.toml``).
    """

    def __init__(self, hosts: Mapping[str, Sequence[str]] | None = None) -> None:
        table = default_demo_hosts() if hosts is None else hosts
        self._hosts = {name.lower().rstrip("."): tuple(a) for name, a in table.items()}

    def resolve(self, host: str) -> list[str]:
        """The listed addresses of ``host``, IPv4 first, or a loopback IP literal itself.

        Raises :class:`HostNotFound` (``nxdomain``) for a name listed with no address, and
        :class:`ResolverFailed` for every name or address the table does not cover.
        """
        literal = _loopback_literal(host)
        if literal is not None:
            return [literal]
        addresses = self._hosts.get(host.lower().rstrip("."))
        if addresses is None:
            raise ResolverFailed(UNKNOWN_NAME)
        if not addresses:
            raise HostNotFound("nxdomain")
        # The order trace.Resolver gives: A records before AAAA.
        return sorted(addresses, key=lambda a: ":" in a)

    def __repr__(self) -> str:
        return f"BuiltinResolver({len(self._hosts)} demo hosts)"


def _loopback_literal(host: str) -> str | None:
    """A loopback IP literal (``127.0.0.1``, ``[::1]``) as an address; anything else None.

    A public IP literal is not answered: the monitor would then fetch it, off this machine.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return None
    return str(address) if address.is_loopback else None
