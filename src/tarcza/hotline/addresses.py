"""Which IP addresses the monitor may connect to: the public internet only (pure).

The monitor fetches URLs that reporters name, so a URL whose host resolves to a private,
loopback or otherwise special address would make tarcza reach into its own network (SSRF).
``ipaddress``'s ``is_global`` alone lets several through (IPv4-compatible ``::7f00:1``, NAT64
``64:ff9b::/96``, site-local ``fec0::/10``…), so the ranges are written out here as data, each
with the RFC that sets it aside, from the IANA IPv4 and IPv6 Special-Purpose Address Registries
(checked against their 2025 editions), plus multicast, the deprecated IPv6 ranges and — for IPv6 —
everything outside global unicast ``2000::/3``.

Every listed range is refused, the few the registries call "globally reachable" (anycast DNS,
PCP, TURN, AMT…) too: no reported content is hosted there. Addresses that carry an IPv4 address
inside them are refused outright, except IPv4-mapped ``::ffff:a.b.c.d``, which is judged as the
IPv4 address it is (a socket connects to exactly that address):

- 6to4 ``2002::/16`` and Teredo ``2001::/32``: a packet to them goes through whichever relay the
  network has, not to the embedded address, and the embedded address (Teredo's is obscured by
  XOR) may be private. Both are deprecated (RFC 7526, and Teredo's servers are gone); no host a
  reporter names publishes such an address instead of its own, so decoding them would buy
  nothing and risk a gap.
- NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``: a local translator turns them into the embedded
  IPv4 address, private or not. A public IPv4 host can be reached at its own address.
- IPv4-compatible ``::/96`` (deprecated, RFC 4291) and IPv4-translated ``::ffff:0:0:0/96``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SpecialRange:
    """One range set aside for a special purpose: never the public internet for the monitor."""

    network: IPNetwork
    name: str
    rfc: str


def _ranges(*rows: tuple[str, str, str]) -> tuple[SpecialRange, ...]:
    return tuple(SpecialRange(ipaddress.ip_network(n), name, rfc) for n, name, rfc in rows)


# IANA IPv4 Special-Purpose Address Registry, every entry, plus multicast.
IPV4_SPECIAL = _ranges(
    ("0.0.0.0/8", "this network", "RFC 791 §3.2"),
    ("0.0.0.0/32", "this host on this network", "RFC 1122 §3.2.1.3"),
    ("10.0.0.0/8", "private use", "RFC 1918"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
    ("127.0.0.0/8", "loopback", "RFC 1122 §3.2.1.3"),
    ("169.254.0.0/16", "link local", "RFC 3927"),
    ("172.16.0.0/12", "private use", "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments", "RFC 6890 §2.1"),
    ("192.0.0.0/29", "IPv4 service continuity prefix", "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    ("192.0.0.9/32", "port control protocol anycast", "RFC 7723"),
    ("192.0.0.10/32", "traversal using relays around NAT anycast", "RFC 8155"),
    ("192.0.0.170/32", "NAT64/DNS64 discovery", "RFC 7050 §2.2"),
    ("192.0.0.171/32", "NAT64/DNS64 discovery", "RFC 7050 §2.2"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "automatic multicast tunneling", "RFC 7450"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526"),
    ("192.168.0.0/16", "private use", "RFC 1918"),
    ("192.175.48.0/24", "direct delegation AS112 service", "RFC 7534"),
    ("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "multicast", "RFC 5771"),
    ("240.0.0.0/4", "reserved", "RFC 1112 §4"),
    ("255.255.255.255/32", "limited broadcast", "RFC 8190, RFC 919 §7"),
)

# IANA IPv6 Special-Purpose Address Registry, every entry, plus what it no longer lists.
IPV6_SPECIAL = _ranges(
    ("::/128", "unspecified address", "RFC 4291"),
    ("::1/128", "loopback address", "RFC 4291"),
    ("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)", "RFC 2765 §2.1"),
    ("64:ff9b::/96", "IPv4-IPv6 translation (NAT64)", "RFC 6052"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    ("100::/64", "discard-only address block", "RFC 6666"),
    ("100:0:0:1::/64", "dummy IPv6 prefix", "RFC 9780"),
    ("2001::/23", "IETF protocol assignments", "RFC 2928"),
    ("2001::/32", "Teredo", "RFC 4380, RFC 8190"),
    ("2001:1::1/128", "port control protocol anycast", "RFC 7723"),
    ("2001:1::2/128", "traversal using relays around NAT anycast", "RFC 8155"),
    ("2001:1::3/128", "DNS-SD service registration protocol anycast", "RFC 9665"),
    ("2001:2::/48", "benchmarking", "RFC 5180"),
    ("2001:3::/32", "automatic multicast tunneling", "RFC 7450"),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    ("2001:10::/28", "deprecated (previously ORCHID)", "RFC 4843"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    ("2001:30::/28", "drone remote ID protocol entity tags", "RFC 9374"),
    ("2001:db8::/32", "documentation", "RFC 3849"),
    ("2002::/16", "6to4", "RFC 3056"),
    ("2620:4f:8000::/48", "direct delegation AS112 service", "RFC 7534"),
    ("3fff::/20", "documentation", "RFC 9637"),
    ("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "unique-local", "RFC 4193, RFC 8190"),
    ("fe80::/10", "link-local unicast", "RFC 4291"),
    ("fec0::/10", "site-local unicast (deprecated)", "RFC 3879"),
    ("ff00::/8", "multicast", "RFC 4291 §2.7"),
)

# IANA's IPv6 Address Space: only 2000::/3 is global unicast; the rest is reserved by the IETF
# or listed above.
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # RFC 4291 §2.5.5.2


def special_range(address: str) -> SpecialRange | None:
    """The listed range that holds ``address`` (the narrowest), or None.

    IPv4-mapped addresses are looked up as their IPv4 address. Raises ValueError when
    ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    table = IPV4_SPECIAL if isinstance(ip, ipaddress.IPv4Address) else IPV6_SPECIAL
    found = [r for r in table if ip in r.network]
    return max(found, key=lambda r: r.network.prefixlen) if found else None


def is_public(address: str) -> bool:
    """Whether ``address`` is on the public internet, so the monitor may connect to it.

    Refused: every listed special-purpose range, IPv6 outside ``2000::/3``, an IPv6 address
    with a zone (``fe80::1%eth0``: a zone means a local link), and whatever ``ipaddress`` does
    not call global (kept as a second opinion). Raises ValueError when ``address`` is not an
    IP address.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return False
        if ip.ipv4_mapped is not None:
            return is_public(str(ip.ipv4_mapped))
        if ip not in GLOBAL_UNICAST:
            return False
    if special_range(str(ip)) is not None:
        return False
    return ip.is_global and not ip.is_multicast
