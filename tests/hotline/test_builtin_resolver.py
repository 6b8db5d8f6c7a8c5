"""The built-in resolver answers the demo's hosts from its table, offline, and nothing else."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from ada_url import URL

from tarcza.hotline.builtin_resolver import (
    UNKNOWN_NAME,
    BuiltinResolver,
    DemoHostsError,
    default_demo_hosts,
    load_demo_hosts,
)
from tarcza.hotline.monitor import check_url
from tarcza.hotline.schedule import Outcome, gone
from tarcza.hotline.trace import Geo, HostNotFound, ResolverFailed, trace_host
from tarcza.intake.demo import DEMO_REPORTS
from tests.support.website import Website


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way to open a socket or ask the system's resolver explodes, and is noted."""
    tried: list[str] = []

    def explode(name: str) -> Any:
        def refuse(*args: object, **kwargs: object) -> Any:
            tried.append(name)
            raise AssertionError(f"the built-in resolver opened the network: socket.{name}")

        return refuse

    for name in ("socket", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, explode(name))
    yield tried


def test_a_demo_host_answers_its_loopback_address(no_network: list[str]) -> None:
    resolver = BuiltinResolver()

    assert resolver.resolve("galeria.demo.example") == ["127.0.0.1"]
    assert resolver.resolve("GALERIA.Demo.Example.") == ["127.0.0.1"]
    assert no_network == []


def test_ipv6_answers_and_ipv4_comes_first(no_network: list[str]) -> None:
    resolver = BuiltinResolver()

    assert resolver.resolve("profil.demo.test") == ["::1"]
    assert resolver.resolve("pliki.demo.example") == ["127.0.0.1", "::1"]
    assert BuiltinResolver({"a.demo.test": ["::1", "127.0.0.2"]}).resolve("a.demo.test") == [
        "127.0.0.2",
        "::1",
    ]
    assert no_network == []


@pytest.mark.parametrize("host", ["example.com", "www.google.com", "demo.example", "localhost"])
def test_any_other_name_is_a_resolver_failure_never_not_found(
    no_network: list[str], host: str
) -> None:
    with pytest.raises(ResolverFailed) as failed:
        BuiltinResolver().resolve(host)

    assert failed.value.reason == UNKNOWN_NAME
    assert not isinstance(failed.value, HostNotFound)
    assert no_network == []


def test_a_public_ip_literal_is_not_answered_a_loopback_one_is(no_network: list[str]) -> None:
    resolver = BuiltinResolver()

    with pytest.raises(ResolverFailed):
        resolver.resolve("93.184.215.14")
    with pytest.raises(ResolverFailed):
        resolver.resolve("[2606:2800:21f:cb07:6820:80da:af6b:8b2c]")
    assert resolver.resolve("127.0.0.1") == ["127.0.0.1"]
    assert resolver.resolve("[::1]") == ["::1"]


def test_a_host_listed_without_addresses_is_gone(no_network: list[str]) -> None:
    with pytest.raises(HostNotFound) as gone:
        BuiltinResolver().resolve("usuniete.demo.example")

    assert gone.value.reason == "nxdomain"


def test_every_link_of_the_demo_reports_is_in_the_table() -> None:
    hosts = default_demo_hosts()
    links = [url for report in DEMO_REPORTS for url in report.urls]

    assert links, "the demo should name links for the hotline to work on"
    for link in links:
        host = URL(link).hostname
        assert host in hosts, f"{link}: the demo would ask the outside world for {host}"
        assert host.endswith((".test", ".example"))


def test_a_demo_trace_finds_the_content_hosted_here(no_network: list[str]) -> None:
    trace = trace_host("pliki.demo.example", BuiltinResolver(), Geo(), "PL")

    assert trace.error is None
    assert [a.address for a in trace.addresses] == ["127.0.0.1", "::1"]
    assert trace.local and trace.country == "PL"


def test_a_trace_of_an_unknown_host_records_the_failure(no_network: list[str]) -> None:
    trace = trace_host("example.org", BuiltinResolver(), Geo(), "PL")

    assert trace.addresses == () and trace.country is None
    assert trace.error == UNKNOWN_NAME


def test_the_monitor_never_takes_an_unknown_name_for_a_removal(no_network: list[str]) -> None:
    result = check_url(
        "https://example.com/gallery/1",
        BuiltinResolver(),
        baseline_sha256=None,
        allow_private=True,
        timeout=1.0,
        max_bytes=1024,
    )

    assert result.outcome is Outcome.ERROR and not gone(result.outcome)
    assert result.detail == f"dns {UNKNOWN_NAME}"


def test_the_monitor_refuses_a_demo_host_unless_private_addresses_are_allowed(
    no_network: list[str],
) -> None:
    result = check_url(
        "https://galeria.demo.example/demo/gallery/1",
        BuiltinResolver(),
        baseline_sha256=None,
        allow_private=False,
        timeout=1.0,
        max_bytes=1024,
    )

    assert result.outcome is Outcome.REFUSED


def test_a_demo_recheck_reaches_this_machine_only() -> None:
    with Website({"/demo/gallery/1": b"invented demo page"}) as site:
        url = f"http://galeria.demo.example:{site.port}/demo/gallery/1"
        result = check_url(
            url,
            BuiltinResolver(),
            baseline_sha256=None,
            allow_private=True,
            timeout=2.0,
            max_bytes=1024,
        )
        gone = check_url(
            "http://usuniete.demo.example/demo/old-post",
            BuiltinResolver(),
            baseline_sha256=None,
            allow_private=True,
            timeout=2.0,
            max_bytes=1024,
        )

    assert result.outcome is Outcome.PRESENT and result.http_status == 200
    assert site.seen == [(f"galeria.demo.example:{site.port}", "/demo/gallery/1")]
    assert gone.outcome is Outcome.UNRESOLVABLE


@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        ('[hosts]\n"example.com" = ["127.0.0.1"]\n', 'hosts."example.com"', ".test or .example"),
        ('[hosts]\n"A.demo.test" = ["127.0.0.1"]\n', 'hosts."A.demo.test"', "lower-case"),
        ('[hosts]\n"a.demo.test" = ["8.8.8.8"]\n', 'hosts."a.demo.test"', "not a loopback"),
        ('[hosts]\n"a.demo.test" = ["10.0.0.1"]\n', 'hosts."a.demo.test"', "not a loopback"),
        ('[hosts]\n"a.demo.test" = ["localhost"]\n', 'hosts."a.demo.test"', "not a loopback"),
        ('[hosts]\n"a.demo.test" = "127.0.0.1"\n', 'hosts."a.demo.test"', "must be a list"),
        ('[hosts]\n"a.demo.test" = ["::1", "0::1"]\n', 'hosts."a.demo.test"', "listed twice"),
        ('[host]\n"a.demo.test" = ["::1"]\n', "host", "unknown key"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(toml: str, key: str, why: str) -> None:
    with pytest.raises(DemoHostsError) as refused:
        load_demo_hosts(toml)

    assert refused.value.key == key
    assert why in str(refused.value)


def test_the_refusal_names_the_line() -> None:
    toml = '# demo\n[hosts]\n"a.demo.test" = ["::1"]\n"b.demo.test" = ["192.0.2.1"]\n'

    with pytest.raises(DemoHostsError) as refused:
        load_demo_hosts(toml)

    assert refused.value.line == 4
    assert str(refused.value).startswith('line 4, hosts."b.demo.test"')
