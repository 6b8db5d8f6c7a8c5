"""One re-check of a notified URL — fetched, hashed, forgotten.

The host is resolved through the hotline's resolver; if any address is not public the fetch
is refused (SSRF) unless allowed (tests). The connection goes to the vetted address itself,
with the original Host header and TLS server name, so a second DNS answer cannot redirect it.
The body is hashed chunk by chunk and discarded: nothing fetched is stored or logged.
Only the DNS saying no (NXDOMAIN, or no A and no AAAA record) is ``unresolvable``; a resolver
that fails to answer (SERVFAIL, REFUSED, a timeout) is ``error``, never a sign of removal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx
from ada_url import URL

from tarcza.hotline.schedule import Outcome
from tarcza.hotline.trace import AddressResolver, HostNotFound, ResolverFailed, is_public

USER_AGENT = "tarcza-monitor/1 (+hotline)"


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: Outcome
    http_status: int | None
    sha256: str | None
    detail: str | None


def check_url(
    url: str,
    resolver: AddressResolver,
    *,
    baseline_sha256: str | None,
    allow_private: bool,
    timeout: float,
    max_bytes: int,
) -> CheckResult:
    """Whether ``url`` still serves what it served (see :class:`Outcome`)."""
    parsed = URL(url)
    host = parsed.hostname
    try:
        addresses = resolver.resolve(host)
    except HostNotFound as exc:
        return CheckResult(Outcome.UNRESOLVABLE, None, None, exc.reason)
    except ResolverFailed as exc:
        return CheckResult(Outcome.ERROR, None, None, f"dns {exc.reason}")
    private = [a for a in addresses if not is_public(a)]
    if private and not allow_private:
        return CheckResult(Outcome.REFUSED, None, None, f"not a public address: {private[0]}")
    address = addresses[0]
    target = URL(url)
    target.hostname = f"[{address}]" if ":" in address else address
    headers = {"Host": parsed.host, "User-Agent": USER_AGENT, "Accept": "*/*"}
    extensions = {"sni_hostname": host} if parsed.protocol == "https:" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "GET", target.href, headers=headers, extensions=extensions
            )
            answer = client.send(request, stream=True)
            try:
                return _judge(answer, baseline_sha256, max_bytes)
            finally:
                answer.close()
    except httpx.TimeoutException:
        return CheckResult(Outcome.ERROR, None, None, "timeout")
    except httpx.HTTPError as exc:
        return CheckResult(Outcome.ERROR, None, None, exc.__class__.__name__)


def _judge(answer: httpx.Response, baseline: str | None, max_bytes: int) -> CheckResult:
    status = answer.status_code
    if status in (404, 410):
        return CheckResult(Outcome.GONE, status, None, None)
    if 300 <= status < 400:
        return CheckResult(Outcome.ERROR, status, None, "redirect")
    if not 200 <= status < 300:
        return CheckResult(Outcome.ERROR, status, None, None)
    digest, read, detail = hashlib.sha256(), 0, None
    for chunk in answer.iter_bytes():
        take = chunk[: max_bytes - read]
        digest.update(take)
        read += len(take)
        if read >= max_bytes:
            detail = "truncated"
            break
    sha = digest.hexdigest()
    if baseline is not None and sha != baseline:
        return CheckResult(Outcome.CHANGED, status, sha, detail)
    return CheckResult(Outcome.PRESENT, status, sha, detail)
