"""One re-check of a notified URL, against a real web server and DNS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tarcza.hotline import schedule
from tarcza.hotline.monitor import check_url
from tarcza.hotline.schedule import Outcome
from tarcza.hotline.trace import HostNotFound, Resolver, ResolverFailed
from tests.support.dns import LocalDns
from tests.support.server import free_port
from tests.support.website import Website


def noise_png(seed: int) -> bytes:
    img = Image.effect_noise((64, 64), 40 + seed).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def site() -> Iterator[Website]:
    with Website() as served:
        yield served


@pytest.fixture(scope="module")
def dns() -> Iterator[LocalDns]:
    with LocalDns({"img.example.test": ["127.0.0.1"]}) as server:
        yield server


def check(url: str, dns: LocalDns, baseline: str | None = None, **kw: Any) -> Any:
    options: dict[str, Any] = {"allow_private": True, "timeout": 1.0, "max_bytes": 1 << 20}
    options.update(kw)
    return check_url(url, Resolver([dns.nameserver], 1.0), baseline_sha256=baseline, **options)


def test_present_gives_the_hash_and_sends_the_original_host(site: Website, dns: LocalDns) -> None:
    body = noise_png(1)
    site.bodies["/a.png"] = body
    result = check(f"http://img.example.test:{site.port}/a.png", dns)
    assert result.outcome is Outcome.PRESENT and result.http_status == 200
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert site.seen[-1] == (f"img.example.test:{site.port}", "/a.png")
    assert not hasattr(result, "body")  # only the hash is kept


def test_gone_changed_and_inconclusive_answers(site: Website, dns: LocalDns) -> None:
    base = f"http://img.example.test:{site.port}"
    site.bodies["/b.png"] = noise_png(2)
    first = check(f"{base}/b.png", dns)
    site.bodies["/b.png"] = noise_png(3)
    assert check(f"{base}/b.png", dns, first.sha256).outcome is Outcome.CHANGED
    assert check(f"{base}/missing.png", dns).outcome is Outcome.GONE
    site.statuses["/g.png"] = 410
    assert check(f"{base}/g.png", dns).outcome is Outcome.GONE
    site.statuses["/e.png"] = 500
    assert check(f"{base}/e.png", dns).outcome is Outcome.ERROR
    site.statuses["/r.png"] = 302
    moved = check(f"{base}/r.png", dns)
    assert (moved.outcome, moved.detail) == (Outcome.ERROR, "redirect")
    assert all(path != "/elsewhere" for _, path in site.seen)  # never followed


def test_a_slow_server_is_inconclusive_within_the_timeout(site: Website, dns: LocalDns) -> None:
    site.bodies["/slow.png"] = b"x"
    site.slow.add("/slow.png")
    started = time.monotonic()
    result = check(f"http://img.example.test:{site.port}/slow.png", dns, timeout=0.3)
    assert result.outcome is Outcome.ERROR and result.detail == "timeout"
    assert time.monotonic() - started < 1.5


def test_nothing_listening_is_inconclusive(dns: LocalDns) -> None:
    result = check(f"http://img.example.test:{free_port()}/a.png", dns)
    assert result.outcome is Outcome.ERROR


def test_a_name_that_no_longer_resolves_is_gone(site: Website, dns: LocalDns) -> None:
    dns.set("short.example.test", ["127.0.0.1"])
    site.bodies["/s.png"] = noise_png(4)
    url = f"http://short.example.test:{site.port}/s.png"
    assert check(url, dns).outcome is Outcome.PRESENT
    dns.remove("short.example.test")
    assert check(url, dns).outcome is Outcome.UNRESOLVABLE


@pytest.mark.parametrize(
    ("how", "reason"),
    [("SERVFAIL", "resolver_error"), ("REFUSED", "resolver_error"), ("silent", "timeout")],
)
def test_a_resolver_that_fails_is_an_error_never_gone(
    site: Website, dns: LocalDns, how: str, reason: str
) -> None:
    host = f"{how.lower()}.example.test"
    dns.set(host, ["127.0.0.1"])
    site.bodies["/f.png"] = noise_png(6)
    url = f"http://{host}:{site.port}/f.png"
    dns.fail(host, how)
    try:
        started = time.monotonic()
        result = check(url, dns)
        assert (result.outcome, result.detail) == (Outcome.ERROR, f"dns {reason}")
        assert not schedule.gone(result.outcome)
        assert time.monotonic() - started < 3.0  # bounded by the resolver's timeout
        with pytest.raises(ResolverFailed) as failed:
            Resolver([dns.nameserver], 0.5).resolve(host)
        assert failed.value.reason == reason
    finally:
        dns.heal(host)
    assert check(url, dns).outcome is Outcome.PRESENT  # the same name, answering again


def test_a_name_with_neither_a_nor_aaaa_is_unresolvable(dns: LocalDns) -> None:
    dns.set("nodata.example.test", [])  # the name exists (NOERROR) with no address at all
    with pytest.raises(HostNotFound) as nodata:
        Resolver([dns.nameserver], 1.0).resolve("nodata.example.test")
    assert nodata.value.reason == "no_answer"
    result = check("http://nodata.example.test/a.png", dns)
    assert (result.outcome, result.detail) == (Outcome.UNRESOLVABLE, "no_answer")
    with pytest.raises(HostNotFound) as nxdomain:
        Resolver([dns.nameserver], 1.0).resolve("never-was.example.test")
    assert nxdomain.value.reason == "nxdomain"


def test_a_server_failing_on_aaaa_alone_still_gives_the_ipv4_address(dns: LocalDns) -> None:
    dns.set("no-aaaa.example.test", ["127.0.0.1"])
    dns.fail("no-aaaa.example.test", "SERVFAIL", only="AAAA")
    assert Resolver([dns.nameserver], 1.0).resolve("no-aaaa.example.test") == ["127.0.0.1"]
    dns.fail("no-aaaa.example.test", "SERVFAIL", only="A")  # no address had: no verdict
    with pytest.raises(ResolverFailed):
        Resolver([dns.nameserver], 1.0).resolve("no-aaaa.example.test")


def test_an_ipv6_only_name_resolves(dns: LocalDns) -> None:
    dns.set("v6.example.test", ["::1"])
    assert Resolver([dns.nameserver], 1.0).resolve("v6.example.test") == ["::1"]


def test_no_dns_server_listening_is_an_error(site: Website) -> None:
    nobody = Resolver([f"127.0.0.1:{free_port()}"], 0.5)
    result = check_url(
        f"http://img.example.test:{site.port}/a.png",
        nobody,
        baseline_sha256=None,
        allow_private=True,
        timeout=1.0,
        max_bytes=1024,
    )
    assert result.outcome is Outcome.ERROR and (result.detail or "").startswith("dns ")


def test_private_addresses_are_refused_unless_allowed(site: Website, dns: LocalDns) -> None:
    site.bodies["/p.png"] = noise_png(5)
    before = len(site.seen)
    result = check(f"http://img.example.test:{site.port}/p.png", dns, allow_private=False)
    assert result.outcome is Outcome.REFUSED and "127.0.0.1" in (result.detail or "")
    assert len(site.seen) == before  # nothing was fetched
    literal = check(f"http://127.0.0.1:{site.port}/p.png", dns, allow_private=False)
    assert literal.outcome is Outcome.REFUSED


def test_a_large_body_is_hashed_up_to_the_limit(site: Website, dns: LocalDns) -> None:
    site.bodies["/big"] = b"a" * 100_000
    result = check(f"http://img.example.test:{site.port}/big", dns, max_bytes=1000)
    assert result.detail == "truncated"
    assert result.sha256 == hashlib.sha256(b"a" * 1000).hexdigest()


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_backoff_follows_the_list_then_repeats_its_last_value() -> None:
    hours = [1.0, 4.0, 24.0]
    waits = [schedule.next_check_at(NOW, n, hours) - NOW for n in range(5)]
    assert waits == [timedelta(hours=h) for h in (1, 4, 24, 24, 24)]
    with pytest.raises(ValueError, match="monitor_backoff_hours"):
        schedule.next_check_at(NOW, 0, [])
    with pytest.raises(ValueError, match="monitor_backoff_hours"):
        schedule.next_check_at(NOW, 0, [1.0, 0.0])


@given(
    st.lists(st.floats(0.01, 1000), min_size=1, max_size=6).map(sorted),
    st.integers(0, 20),
)
def test_backoff_never_shrinks_for_a_growing_list(hours: list[float], n: int) -> None:
    assert schedule.next_check_at(NOW, n, hours) <= schedule.next_check_at(NOW, n + 1, hours)


def test_what_counts_as_a_gone_answer() -> None:
    assert {o for o in Outcome if schedule.gone(o)} == {
        Outcome.GONE,
        Outcome.UNRESOLVABLE,
        Outcome.CHANGED,
    }


def test_escalation_after_n_days_and_again_n_days_later() -> None:
    noticed = NOW - timedelta(days=3)
    assert schedule.escalation_due(noticed, None, NOW, 3)
    assert not schedule.escalation_due(noticed, None, NOW - timedelta(minutes=1), 3)
    assert not schedule.escalation_due(noticed, NOW - timedelta(days=1), NOW, 3)
    assert schedule.escalation_due(noticed, NOW - timedelta(days=3), NOW, 3)
    assert not schedule.escalation_due(None, None, NOW, 3)
