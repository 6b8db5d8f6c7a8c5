"""Reported URLs made into content-item keys — pure: no web, database or network imports.

A URL is parsed by the WHATWG URL Standard (the ``ada-url`` parser, as browsers do), then the
spellings that fetch the same thing are folded together and nothing that could change what a
server returns is touched:

- folded: the case of scheme and host; Unicode and punycode hosts (UTS #46, kept in ASCII); IPv4
  spellings (``0x7f.1`` is ``127.0.0.1``); default ports; ``.`` and ``..`` path segments; the
  fragment (a browser never sends it); an empty query (``?``); the query parameters named in
  the tracking list; user name and password (see :func:`normalise`).
- kept exactly: the path's case and percent-encoding (``%7e`` and ``~`` stay apart, as WHATWG
  serialises them), the order and the encoding of every other query parameter, and a trailing
  dot on the host (``example.com.`` is not ``example.com``: it resolves the same, but a server
  sees another ``Host`` header, may route it to another virtual host, and a hotline must know
  when the one spelling is gone and the other still serves).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

from ada_url import URL, HostType, URLSearchParams, idna_to_unicode
from publicsuffixlist import PublicSuffixList

# The Public Suffix List as the package ships it (offline; the package's version is its date).
_PSL = PublicSuffixList()

__all__ = [
    "DEFAULT_TRACKING",
    "MAX_LENGTH",
    "NormalisedUrl",
    "RefusalCode",
    "UrlRefused",
    "key",
    "normalise",
    "strip_tracking",
]

#: Query parameter names that only say where a visitor came from. Matched case-sensitively on
#: the decoded name (see :func:`strip_tracking`).
DEFAULT_TRACKING: frozenset[str] = frozenset(
    {
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "utm_id",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmkt",
        "ref_src",
    }
)

#: The longest URL accepted, in characters, before and after normalisation.
MAX_LENGTH = 2048

RefusalCode = Literal[
    "empty", "too_long", "control_char", "no_scheme", "scheme", "no_host", "not_a_url"
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# WHATWG drops tabs and newlines anywhere and trims C0 controls and spaces at both ends.
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_TRIMMED = "".join(chr(c) for c in range(0x21))
# Every other control character is refused: no one types it, and a parser that strips or
# encodes it silently would hide what the reporter pasted.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


class UrlRefused(ValueError):
    """The text is not an http(s) URL that a hotline can act on.

    ``code`` is stable (for messages and tests); ``message`` is for a log or an analyst.
    """

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: RefusalCode = code
        self.message = message


@dataclass(frozen=True, slots=True)
class NormalisedUrl:
    """One content item's URL in its canonical spelling.

    ``url`` is the canonical string; ``host`` is ASCII (punycode), ``host_unicode`` the same host
    for display (equal to ``host`` for IP addresses and for labels that do not decode).
    ``registrable`` is the domain a registrant holds (``example.co.uk`` for
    ``a.b.example.co.uk``, by the Public Suffix List; the host itself for an IP address or a
    public suffix). ``port`` is the effective port (80 or 443 when the URL names none);
    ``path`` starts with ``/``; ``query`` is without its ``?`` and empty when there is none.
    """

    url: str
    scheme: str
    host: str
    host_unicode: str
    registrable: str
    port: int
    path: str
    query: str

    @property
    def display(self) -> str:
        """The URL with the host in Unicode, for reading only: never fetch or key by it.

        Shown beside ``url``, never instead of it: a Unicode host can imitate another
        (``exаmple.com`` with a Cyrillic ``а``).
        """
        return self.url.replace(self.host, self.host_unicode, 1)


def normalise(raw: str, tracking: AbstractSet[str] = DEFAULT_TRACKING) -> NormalisedUrl:
    """Parse ``raw`` by the WHATWG URL Standard and return its canonical form.

    Only ``http`` and ``https`` URLs with a host are accepted; anything else raises
    :class:`UrlRefused` with a code: ``empty``, ``too_long`` (over :data:`MAX_LENGTH`
    characters, as given or once normalised), ``control_char`` (a control character other than
    tab, CR or LF, e.g. NUL), ``no_scheme``, ``scheme`` (``javascript:``, ``mailto:``,
    ``data:``, ``ftp:`` …), ``no_host`` (``http://``) or ``not_a_url`` (the parser refused it).

    User name and password are dropped: they are someone's credentials, they must not become
    part of a content item's key or be shown again, and the same item is fetched with other
    credentials or none. The report keeps the text exactly as it was sent.

    Parameters named in ``tracking`` are removed from the query (see :func:`strip_tracking`).
    ``normalise(normalise(raw).url) == normalise(raw)`` for every accepted ``raw``.
    """
    url = _parse(raw)
    host = url.hostname
    if not host:  # WHATWG gives http(s) URLs a host or fails; this guards the invariant
        raise UrlRefused("no_host", "the URL names no host")
    url.username = ""
    url.password = ""
    del url.hash
    query = strip_tracking(url.search.removeprefix("?"), tracking)
    if query:
        # The setter drops one leading "?", so a query that starts with "?" needs its own.
        url.search = "?" + query
    else:
        del url.search
    canonical = url.href
    if len(canonical) > MAX_LENGTH:
        raise UrlRefused("too_long", f"the URL is longer than {MAX_LENGTH} characters")
    scheme = url.protocol.removesuffix(":")
    return NormalisedUrl(
        url=canonical,
        scheme=scheme,
        host=host,
        host_unicode=_unicode_host(host, url.host_type),
        registrable=registrable_domain(host, url.host_type),
        port=int(url.port) if url.port else _DEFAULT_PORTS[scheme],
        path=url.pathname,
        query=query,
    )


def registrable_domain(host: str, host_type: HostType) -> str:
    """The registered domain of an ASCII ``host`` (where abuse contacts live, RFC 2142)."""
    if host_type != HostType.DEFAULT:
        return host
    return _PSL.privatesuffix(host.rstrip(".")) or host


def strip_tracking(query: str, tracking: AbstractSet[str] = DEFAULT_TRACKING) -> str:
    """Remove the parameters named in ``tracking`` from ``query`` (given without its ``?``).

    The query is split on ``&`` only, as ``application/x-www-form-urlencoded`` does; a
    parameter is removed when its name, decoded the way a server decodes it (``+`` is a space,
    ``%5F`` is ``_``), equals a tracking name exactly: case-sensitively, because servers read
    names case-sensitively and ``UTM_SOURCE`` may mean something to one. Every other segment,
    empty ones included, is kept byte for byte and in its order.
    """
    if not query or not tracking:
        return query
    kept = [part for part in query.split("&") if _decoded_name(part) not in tracking]
    return "&".join(kept)


def key(url: NormalisedUrl) -> str:
    """The content item's key: the SHA-256 of the canonical URL, 64 lower-case hex digits."""
    return hashlib.sha256(url.url.encode("utf-8")).hexdigest()


def _parse(raw: str) -> URL:
    """The WHATWG parse of ``raw``, refused unless it is an http(s) URL."""
    if not raw.strip():
        raise UrlRefused("empty", "no URL was given")
    if len(raw) > MAX_LENGTH:
        raise UrlRefused("too_long", f"the URL is longer than {MAX_LENGTH} characters")
    if _CONTROL.search(raw):
        raise UrlRefused("control_char", "the URL contains a control character")
    text = _TAB_OR_NEWLINE.sub("", raw).strip(_TRIMMED)
    match = _SCHEME.match(text)
    if match is None:
        raise UrlRefused("no_scheme", "the URL does not start with http:// or https://")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlRefused("scheme", f"only http and https URLs are accepted, not {scheme}:")
    try:
        return URL(text)
    except ValueError:
        rest = text[match.end() :].lstrip("/\\")
        if not rest or rest[0] in "?#":
            raise UrlRefused("no_host", "the URL names no host") from None
        raise UrlRefused("not_a_url", "the text cannot be read as a URL") from None


def _decoded_name(segment: str) -> str | None:
    """The decoded name of one ``name=value`` segment; None when it is not UTF-8."""
    try:
        # ada's own form decoding. The leading "&" stops it from stripping a "?" that belongs
        # to the name (URLSearchParams("?a") is "a"); its Python wrapper raises on bytes that
        # are not UTF-8 where the standard would put U+FFFD.
        names = list(URLSearchParams("&" + segment).keys())
    except UnicodeDecodeError:
        return None
    return names[0] if names else None


def _unicode_host(host: str, host_type: HostType) -> str:
    """The display form of an ASCII host (UTS #46 ToUnicode), or the host itself."""
    if host_type != HostType.DEFAULT or "xn--" not in host:
        return host
    try:
        shown = idna_to_unicode(host)
    except (UnicodeError, ValueError):
        return host
    return shown or host
