"""The hosting trace: where a host resolves, in which country, on whose network.

Addresses come from DNS through :class:`Resolver` (dnspython; the servers are configurable, so
tests run one on 127.0.0.1). Country and operator come from geoip2fast's shipped database
(``geoip2fast-asn-ipv6.dat.gz``: MaxMind GeoLite2 country + ASN organisation, IPv4 and IPv6,
offline). That database names the network operator but not the AS number.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import dns.exception
import dns.inet
import dns.resolver

from tarcza.hotline import addresses

_DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"


class HostNotFound(Exception):
    """The DNS says the name has no address: it does not exist (``nxdomain``), or it exists
    with neither an A nor an AAAA record (``no_answer``, NODATA for both)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResolverFailed(Exception):
    """No answer could be had, which says nothing about the name: ``timeout`` (no server
    answered in time) or ``resolver_error`` (SERVFAIL, REFUSED, an unreachable server…)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _literal(host: str) -> str | None:
    """The address when ``host`` is an IP literal (``[::1]`` too), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return None


def _nameserver(spec: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (address, port)."""
    if spec.startswith("["):
        address, _, rest = spec[1:].partition("]")
        return address, int(rest.removeprefix(":") or 53)
    if spec.count(":") == 1:
        address, _, port = spec.partition(":")
        return address, int(port)
    return spec, 53


class AddressResolver(Protocol):
    """What the trace and the monitor need of a resolver (``trace.Resolver`` is one)."""

    def resolve(self, host: str) -> list[str]:
        """The host's addresses; raises HostNotFound or ResolverFailed."""
        ...


class Resolver:
    """A and AAAA lookups through dnspython.

    ``nameservers``: ``host`` or ``host:port`` entries (empty: the system's resolver);
    ``timeout``: seconds for a whole lookup.
    """

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 3.0) -> None:
        self.timeout = timeout
        if nameservers:
            self._resolver = dns.resolver.Resolver(configure=False)
            servers = [_nameserver(s) for s in nameservers]
            self._resolver.nameservers = [address for address, _ in servers]
            self._resolver.port = servers[0][1]
        else:
            self._resolver = dns.resolver.Resolver(configure=True)
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout

    def resolve(self, host: str) -> list[str]:
        """The host's addresses, IPv4 first, without repeats; an IP literal is itself.

        Raises :class:`HostNotFound` only on an authoritative "no": NXDOMAIN, or NODATA for
        both A and AAAA. Any failure to get an answer for either type (SERVFAIL, REFUSED, a
        timeout, no reachable server) raises :class:`ResolverFailed`: the monitor takes it
        for "try again", never for "gone".
        """
        literal = _literal(host)
        if literal is not None:
            return [literal]
        name = host.rstrip(".") + "."
        found: list[str] = []
        missing = 0
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(name, rdtype, search=False)
            except dns.resolver.NXDOMAIN:
                if found:  # servers that disagree: the A answer shows the name exists
                    continue
                raise HostNotFound("nxdomain") from None
            except dns.resolver.NoAnswer:
                missing += 1
                continue
            except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
                if found:  # servers that fail on AAAA alone are common: use the A answer
                    continue
                why = "timeout" if isinstance(exc, dns.exception.Timeout) else "resolver_error"
                raise ResolverFailed(why) from None
            found.extend(r.to_text() for r in answer if r.to_text() not in found)
        if not found:
            raise HostNotFound("no_answer")
        return found


def is_public(address: str) -> bool:
    """Whether ``address`` is on the public internet: see :mod:`tarcza.hotline.addresses`."""
    return addresses.is_public(address)


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """One address: its country and operator, or ``local`` when not on the public internet."""

    address: str
    country: str | None
    operator: str | None
    network: str | None
    local: bool


class Geo:
    """Country and operator of an address from geoip2fast's shipped database (loaded once)."""

    _lock = threading.Lock()
    _db: Any = None

    @classmethod
    def _loaded(cls) -> Any:
        with cls._lock:
            if cls._db is None:
                from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]

                with contextlib.redirect_stdout(io.StringIO()):
                    cls._db = GeoIP2Fast(geoip2fast_data_file=_DATA_FILE, verbose=False)
            return cls._db

    def lookup(self, address: str) -> AddressInfo:
        if not is_public(address):
            return AddressInfo(address, None, None, None, True)
        found = self._loaded().lookup(address)
        country = (found.country_code or "").upper()
        return AddressInfo(
            address,
            country if len(country) == 2 and country.isalpha() else None,
            found.asn_name or None,
            found.asn_cidr or None,
            False,
        )

    def source(self) -> str:
        """The database's own description, e.g. ``MAXMIND:GeoLite2-…-20240618``."""
        return str(self._loaded().get_database_info().get("source_info", ""))


@dataclass(frozen=True, slots=True)
class Trace:
    """What the trace found for a host (``error`` says why nothing was found)."""

    host: str
    addresses: tuple[AddressInfo, ...]
    country: str | None
    error: str | None

    @property
    def local(self) -> bool:
        return bool(self.addresses) and all(a.local for a in self.addresses)

    @property
    def operator(self) -> str | None:
        return next((a.operator for a in self.addresses if a.operator), None)

    def addresses_json(self) -> str:
        return json.dumps(
            [
                {
                    "address": a.address,
                    "country": a.country,
                    "operator": a.operator,
                    "network": a.network,
                    "local": a.local,
                }
                for a in self.addresses
            ]
        )

    @classmethod
    def from_json(
        cls, host: str, addresses_json: str, country: str | None, error: str | None
    ) -> Trace:
        rows = json.loads(addresses_json)
        infos = tuple(
            AddressInfo(r["address"], r["country"], r["operator"], r["network"], r["local"])
            for r in rows
        )
        return cls(host, infos, country, error)


def trace_host(host: str, resolver: AddressResolver, geo: Geo, home_country: str) -> Trace:
    """Resolve ``host`` and locate each address; DNS failures come back as ``error``.

    The hosting country is that of the first public address that has one. When every address
    is local (the deployment's own network, as in tests on 127.0.0.1) it is ``home_country``.
    """
    try:
        addresses = resolver.resolve(host)
    except (HostNotFound, ResolverFailed) as exc:
        return Trace(host, (), None, exc.reason)
    infos = tuple(geo.lookup(a) for a in addresses)
    country = next((i.country for i in infos if i.country), None)
    if infos and all(i.local for i in infos):
        country = home_country.upper()
    return Trace(host, infos, country, None)
