"""The monitor connects to public addresses only: every special-purpose range is refused."""

from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.hotline import addresses, trace
from tarcza.hotline.addresses import IPV4_SPECIAL, IPV6_SPECIAL, SpecialRange

pytestmark = pytest.mark.abuse

ALL = IPV4_SPECIAL + IPV6_SPECIAL


@st.composite
def inside(draw: st.DrawFn, ranges: tuple[SpecialRange, ...] = ALL) -> str:
    """Any address inside one of ``ranges``: its first, its last, or anywhere between."""
    network = draw(st.sampled_from(ranges)).network
    first, size = int(network.network_address), network.num_addresses
    offset = draw(st.one_of(st.just(0), st.just(size - 1), st.integers(0, size - 1)))
    return str(ipaddress.ip_address(first + offset) if network.version == 4 else
               ipaddress.IPv6Address(first + offset))  # fmt: skip


@given(inside())
def test_any_address_in_a_listed_range_is_refused(address: str) -> None:
    assert not trace.is_public(address)


@given(inside(IPV4_SPECIAL))
def test_a_listed_ipv4_address_mapped_into_ipv6_is_refused(address: str) -> None:
    assert not trace.is_public(f"::ffff:{address}")


@given(st.integers(0, 2**32 - 1))
def test_every_address_embedding_ipv4_is_refused_but_mapped_public_ones(n: int) -> None:
    v4 = ipaddress.IPv4Address(n)
    embedded = [
        ipaddress.IPv6Address(n),  # IPv4-compatible ::a.b.c.d
        ipaddress.IPv6Address((0x64FF9B << 96) | n),  # NAT64 64:ff9b::a.b.c.d
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),  # 6to4 2002:aabb:ccdd::
        ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | (n ^ 0xFFFFFFFF)),  # Teredo
    ]
    for address in embedded:
        assert not trace.is_public(str(address)), address
    assert trace.is_public(f"::ffff:{v4}") == trace.is_public(str(v4))


@given(st.integers(0, 2**128 - 1))
def test_ipv6_outside_global_unicast_is_refused(n: int) -> None:
    ip = ipaddress.IPv6Address(n)
    if ip.ipv4_mapped is None and ip not in addresses.GLOBAL_UNICAST:
        assert not trace.is_public(str(ip))


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::808:808",  # NAT64 of a public address: still through a local translator
        "64:ff9b:1::a00:1",
        "fec0::1",  # site-local
        "feff:ffff::1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2002:808:808::1",  # 6to4 of 8.8.8.8: refused outright (see addresses.py)
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",  # the cloud metadata service
        "::ffff:0:7f00:1",  # IPv4-translated
        "100.64.0.1",
        "192.0.0.9",
        "192.88.99.1",
        "198.18.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "224.0.0.1",
        "0.0.0.0",
        "3fff::1",
        "5f00::1",
        "2001:db8::1",
        "ff02::1",
        "fe80::1%eth0",
        "2a00:1450::1%3",  # a zone means a local link, whatever the address
        "4000::1",  # reserved by the IETF
    ],
)
def test_known_special_addresses_are_refused(address: str) -> None:
    assert not trace.is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "193.0.6.139",  # RIPE NCC
        "212.77.98.9",  # a Polish portal
        "2a00:1450::1",
        "2a00:1450:401b:800::200e",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ],
)
def test_known_public_addresses_are_accepted(address: str) -> None:
    assert trace.is_public(address)


def test_every_range_names_its_rfc_and_has_no_host_bits() -> None:
    for r in ALL:
        assert r.rfc.startswith("RFC ") and r.name
        assert r.network == ipaddress.ip_network(str(r.network))  # strict: no host bits


def test_the_narrowest_range_is_named() -> None:
    found = addresses.special_range("2001::1")
    assert found is not None and found.name == "Teredo"


def test_the_module_is_pure() -> None:
    tree = ast.parse(Path(addresses.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= {"__future__", "ipaddress", "dataclasses"}
