"""URL normalisation: idempotent, merges only what fetches the same thing, refuses the rest.

The property tests build URLs from parts and compute, independently of the code under test,
what a browser would fetch (scheme, host, effective port, resolved path, non-tracking query
parameters in order). Two URLs must normalise to the same string exactly when that matches.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tarcza.hotline.urls import (
    DEFAULT_TRACKING,
    MAX_LENGTH,
    NormalisedUrl,
    UrlRefused,
    key,
    normalise,
    strip_tracking,
)

# Punycode forms checked with the `idna` package, not with the parser under test.
IDN = {
    "przykład.pl": "xn--przykad-rjb.pl",
    "bücher.de": "xn--bcher-kva.de",
    "żółw.pl": "xn--w-uga1v8h.pl",
    "пример.рф": "xn--e1afmkfd.xn--p1ai",
}
DEFAULT_PORT = {"http": 80, "https": 443}
SINGLE_DOTS = {".", "%2e"}
DOUBLE_DOTS = {"..", ".%2e", "%2e.", "%2e%2e"}
DOTTED = SINGLE_DOTS | DOUBLE_DOTS
TRACKING = sorted(DEFAULT_TRACKING)

# A token is (kind, text): "lit" is kept as written, "esc" is a percent-escape kept verbatim
# (hex case included), "uni" is a character WHATWG encodes as upper-case %XX of its UTF-8.
Token = tuple[str, str]


def encode_uni(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def spell(tokens: tuple[Token, ...], encode: bool = False) -> str:
    return "".join(encode_uni(t) if k == "uni" and encode else t for k, t in tokens)


def fetched(tokens: tuple[Token, ...]) -> str:
    return spell(tokens, encode=True)


@dataclass(frozen=True)
class Host:
    kind: str  # dns, idn, v4, v6
    value: Any  # folded name (dns, idn: punycode) or the address as an int (v4, v6)


@dataclass(frozen=True)
class Spec:
    """The parts of a URL; fields named *_spelling are free, the rest decide the fetch."""

    scheme: str
    host: Host
    port: int | None  # None: no port written
    segments: tuple[tuple[Token, ...], ...]
    params: tuple[tuple[str, tuple[Token, ...]], ...]  # (name, value tokens)
    scheme_spelling: str = ""
    host_spelling: str = ""
    port_spelling: str = ""
    userinfo: str = ""
    fragment: str | None = None
    empty_query: bool = False
    encode_unicode: bool = False

    def text(self) -> str:
        scheme = self.scheme_spelling or self.scheme
        host = self.host_spelling or default_host_spelling(self.host)
        port = "" if self.port is None else ":" + (self.port_spelling or str(self.port))
        path = "".join("/" + spell(s, self.encode_unicode) for s in self.segments)
        query = "&".join(
            name + ("=" + spell(v, self.encode_unicode) if v else "") for name, v in self.params
        )
        url = f"{scheme}://{self.userinfo}{host}{port}{path}"
        if query or self.empty_query:
            url += "?" + query
        if self.fragment is not None:
            url += "#" + self.fragment
        return url

    def identity(self) -> tuple[Any, ...]:
        """What a client fetches, computed without the parser under test."""
        port = DEFAULT_PORT[self.scheme] if self.port is None else self.port
        kept = tuple((name, fetched(v)) for name, v in self.params if name not in DEFAULT_TRACKING)
        path = "/" + "/".join(resolve(self.segments))
        return (self.scheme, self.host, port, path, kept)


def default_host_spelling(host: Host) -> str:
    if host.kind == "v4":
        return str(ipaddress.IPv4Address(host.value))
    if host.kind == "v6":
        return f"[{ipaddress.IPv6Address(host.value).compressed}]"
    return str(host.value)


def resolve(segments: tuple[tuple[Token, ...], ...]) -> tuple[str, ...]:
    """Dot segments as the WHATWG path state resolves them."""
    out: list[str] = []
    for i, tokens in enumerate(segments):
        text, last = fetched(tokens), i == len(segments) - 1
        if text.lower() in DOUBLE_DOTS:
            if out:
                out.pop()
            if last:
                out.append("")
        elif text.lower() in SINGLE_DOTS:
            if last:
                out.append("")
        else:
            out.append(text)
    return tuple(out)


# --- strategies ------------------------------------------------------------------------------

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True).filter(
    lambda s: s[2:4] != "--"
)
TLD = st.from_regex(r"[a-z]{2,5}", fullmatch=True)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=True))


@st.composite
def hosts(draw: st.DrawFn) -> Host:
    kind = draw(st.sampled_from(["dns", "dns", "idn", "v4", "v6"]))
    if kind == "dns":
        labels = draw(st.lists(LABEL, min_size=1, max_size=3))
        return Host("dns", ".".join([*labels, draw(TLD)]))
    if kind == "idn":
        return Host("idn", IDN[draw(st.sampled_from(sorted(IDN)))])
    if kind == "v4":
        return Host("v4", draw(st.integers(0, 2**32 - 1)))
    return Host("v6", draw(st.integers(0, 2**128 - 1)))


@st.composite
def host_spellings(draw: st.DrawFn, host: Host) -> str:
    """Any spelling a browser reads as ``host``."""
    if host.kind == "dns":
        return draw(random_case(host.value))
    if host.kind == "idn":
        unicode = next(u for u, p in IDN.items() if p == host.value)
        return draw(st.sampled_from([unicode, unicode.upper(), draw(random_case(host.value))]))
    if host.kind == "v4":
        dotted = str(ipaddress.IPv4Address(host.value))
        return draw(st.sampled_from([dotted, str(host.value), hex(host.value), dotted + "."]))
    address = ipaddress.IPv6Address(host.value)
    return (
        "[" + draw(random_case(draw(st.sampled_from([address.compressed, address.exploded])))) + "]"
    )


LITERAL = st.text(alphabet=LETTERS + "0123456789-_~", min_size=1, max_size=5)
ESCAPE = st.sampled_from(["%20", "%2F", "%41", "%7e", "%7E", "%25", "%c5%82", "%C5%82"])
UNI = st.sampled_from(["ł", "Ä", "ß", "日"])
TOKEN = st.one_of(
    LITERAL.map(lambda t: ("lit", t)),
    ESCAPE.map(lambda t: ("esc", t)),
    UNI.map(lambda t: ("uni", t)),
)
DOTS = st.sampled_from(sorted(SINGLE_DOTS | DOUBLE_DOTS | {"%2E", "%2E%2e", ".%2E"}))
SEGMENT = st.one_of(
    st.lists(TOKEN, min_size=1, max_size=3).map(tuple),
    DOTS.map(lambda d: (("lit", d),)),
)
VALUE = st.lists(st.one_of(TOKEN, st.just(("lit", "+"))), max_size=3).map(tuple)
PLAIN_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,5}", fullmatch=True).filter(
    lambda n: n not in DEFAULT_TRACKING
)
PARAM = st.tuples(st.one_of(PLAIN_NAME, st.sampled_from(TRACKING)), VALUE)
FRAGMENT = st.none() | st.text(alphabet=LETTERS + "0123456789/?&=#", max_size=8)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    scheme = draw(st.sampled_from(["http", "https"]))
    port = draw(st.none() | st.just(DEFAULT_PORT[scheme]) | st.integers(1, 65535))
    return Spec(
        scheme=scheme,
        host=draw(hosts()),
        port=port,
        segments=tuple(draw(st.lists(SEGMENT, max_size=5))),
        params=tuple(draw(st.lists(PARAM, max_size=5))),
    )


@st.composite
def respelled(draw: st.DrawFn, spec: Spec) -> Spec:
    """The same fetch, spelled another way: every free choice drawn anew."""
    params = [p for p in spec.params if p[0] not in DEFAULT_TRACKING]
    for _ in range(draw(st.integers(0, 3))):  # tracking parameters anywhere
        tracker = (draw(st.sampled_from(TRACKING)), draw(VALUE))
        params.insert(draw(st.integers(0, len(params))), tracker)
    segments = list(spec.segments)
    if segments and draw(st.booleans()):  # "name/.." or "." before a segment that is kept
        at = draw(st.integers(0, len(segments) - 1))
        segments[at:at] = draw(
            st.sampled_from([[(("lit", "x"),), (("lit", ".."),)], [(("lit", "."),)]])
        )
    port = spec.port
    if port == DEFAULT_PORT[spec.scheme] or port is None:
        port = draw(st.sampled_from([None, DEFAULT_PORT[spec.scheme]]))
    return replace(
        spec,
        port=port,
        segments=tuple(segments),
        params=tuple(params),
        scheme_spelling=draw(random_case(spec.scheme)),
        host_spelling=draw(host_spellings(spec.host)),
        port_spelling="" if port is None else draw(st.sampled_from([str(port), f"0{port}"])),
        userinfo=draw(st.sampled_from(["", "user@", "User:Secret@", ":@"])),
        fragment=draw(FRAGMENT),
        empty_query=draw(st.booleans()),
        encode_unicode=draw(st.booleans()),
    )


@st.composite
def changed_tokens(draw: st.DrawFn, tokens: tuple[Token, ...], how: str) -> tuple[Token, ...]:
    """One character's case flipped, or one character percent-encoded (``a`` to ``%61``).

    Both fetch other bytes, so both must stay apart, however lenient some servers are.
    """
    literal = [i for i, (k, t) in enumerate(tokens) if k == "lit" and t and t.lower() not in DOTTED]
    if how == "letter":
        literal = [i for i in literal if any(c.isalpha() for c in tokens[i][1])]
    if not literal:
        return (*tokens, ("lit", "z"))
    i = draw(st.sampled_from(literal))
    text = tokens[i][1]
    if how == "letter":
        at = draw(st.sampled_from([j for j, c in enumerate(text) if c.isalpha()]))
        new: tuple[Token, ...] = (("lit", text[:at] + text[at].swapcase() + text[at + 1 :]),)
    else:
        at = draw(st.integers(0, len(text) - 1))
        new = (("lit", text[:at]), ("esc", f"%{ord(text[at]):02X}"), ("lit", text[at + 1 :]))
    return (*tokens[:i], *new, *tokens[i + 1 :])


@st.composite
def mutated(draw: st.DrawFn, spec: Spec) -> Spec:
    """``spec`` with one fetch-relevant part changed."""
    part = draw(st.sampled_from(["scheme", "host", "port", "path", "query"]))
    if part == "scheme":
        return replace(spec, scheme="https" if spec.scheme == "http" else "http")
    if part == "host":
        return replace(spec, host=draw(hosts().filter(lambda h: h != spec.host)))
    if part == "port":
        now = spec.port or DEFAULT_PORT[spec.scheme]
        return replace(spec, port=draw(st.integers(1, 65535).filter(lambda p: p != now)))
    if part == "path":
        how = draw(st.sampled_from(["append", "letter", "escape"]))
        if how == "append" or not spec.segments:
            return replace(spec, segments=(*spec.segments, draw(SEGMENT)))
        at = draw(st.integers(0, len(spec.segments) - 1))
        tokens = draw(changed_tokens(spec.segments[at], how))
        return replace(spec, segments=(*spec.segments[:at], tokens, *spec.segments[at + 1 :]))
    params = list(spec.params)
    how = draw(st.sampled_from(["add", "drop", "swap", "value", "letter", "escape"]))
    plain = [i for i, (name, _) in enumerate(params) if name not in DEFAULT_TRACKING]
    if how == "drop" and plain:
        del params[draw(st.sampled_from(plain))]
    elif how == "swap" and len(plain) >= 2:
        i, j = plain[0], plain[-1]
        params[i], params[j] = params[j], params[i]
    elif how == "value" and plain:
        i = draw(st.sampled_from(plain))
        params[i] = (params[i][0], (*params[i][1], ("lit", "v")))
    elif how in ("letter", "escape") and plain:
        i = draw(st.sampled_from(plain))
        params[i] = (params[i][0], draw(changed_tokens(params[i][1], how)))
    else:
        at = draw(st.integers(0, len(params)))
        params.insert(at, draw(st.tuples(PLAIN_NAME, VALUE)))
    return replace(spec, params=tuple(params))


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=400)
@given(specs().flatmap(respelled))
def test_normalising_twice_changes_nothing(spec: Spec) -> None:
    once = normalise(spec.text())
    assert normalise(once.url) == once


@settings(max_examples=300)
@given(st.text(max_size=60))
@example("?")
@example("%zz&&?&utm_source")
@example("?utm_source=1")
def test_any_text_after_http_is_refused_or_idempotent(tail: str) -> None:
    for raw in ("http://example.com/" + tail, "https://" + tail):
        try:
            once = normalise(raw)
        except UrlRefused:
            continue
        assert normalise(once.url) == once


@settings(max_examples=400)
@given(st.data())
def test_spellings_of_the_same_fetch_merge(data: st.DataObject) -> None:
    spec = data.draw(specs())
    one, other = data.draw(respelled(spec)), data.draw(respelled(spec))
    assert one.identity() == other.identity()
    assert normalise(one.text()) == normalise(other.text())


@settings(max_examples=600)
@given(st.data())
def test_urls_that_fetch_different_things_never_merge(data: st.DataObject) -> None:
    spec = data.draw(specs())
    changed = data.draw(mutated(spec))
    assume(changed.identity() != spec.identity())
    one, other = data.draw(respelled(spec)), data.draw(respelled(changed))
    assert normalise(one.text()).url != normalise(other.text()).url


@settings(max_examples=300)
@given(specs(), specs())
def test_two_urls_merge_exactly_when_they_fetch_the_same(a: Spec, b: Spec) -> None:
    same_fetch = a.identity() == b.identity()
    assert (normalise(a.text()).url == normalise(b.text()).url) == same_fetch


@given(specs().flatmap(respelled))
def test_parts_describe_the_canonical_url(spec: Spec) -> None:
    url = normalise(spec.text())
    scheme, _, port, _, params = spec.identity()
    assert (url.scheme, url.port) == (scheme, port)
    assert url.url.startswith(f"{scheme}://{url.host}")
    bare = url.host.rstrip(".")
    assert bare == url.registrable or bare.endswith("." + url.registrable)
    assert url.url.endswith(url.path + ("?" + url.query if url.query else ""))
    assert "#" not in url.url and "@" not in url.url
    names = [part.partition("=")[0] for part in url.query.split("&")] if url.query else []
    assert [name for name, _ in params] == names


@given(specs().flatmap(respelled))
def test_key_is_the_sha256_of_the_canonical_url(spec: Spec) -> None:
    url = normalise(spec.text())
    assert key(url) == hashlib.sha256(url.url.encode()).hexdigest()


# --- decisions, by example -------------------------------------------------------------------


def test_trailing_dot_on_the_host_is_kept_apart() -> None:
    # Same address, but another Host header: a server may answer it differently.
    assert normalise("http://example.com./a").url == "http://example.com./a"
    assert normalise("http://example.com./a").url != normalise("http://example.com/a").url


def test_credentials_are_dropped() -> None:
    url = normalise("https://Alice:s3cret@Example.com/x")
    assert url.url == "https://example.com/x"
    assert "s3cret" not in repr(url)


def test_tracking_names_are_matched_decoded_and_case_sensitively() -> None:
    url = normalise("http://h.pl/p?utm%5Fsource=a&UTM_SOURCE=b&fbclid&x=1&gclid=2")
    assert url.query == "UTM_SOURCE=b&x=1"


def test_other_parameters_keep_their_order_encoding_and_empty_segments() -> None:
    url = normalise("http://h.pl/?b=2&&a=%41+1&utm_medium=m&a=z&c")
    assert url.url == "http://h.pl/?b=2&&a=%41+1&a=z&c"


def test_only_tracking_parameters_leave_no_question_mark() -> None:
    assert normalise("http://h.pl/x?utm_source=a&fbclid=b#top").url == "http://h.pl/x"


def test_a_question_mark_inside_the_query_is_part_of_a_name() -> None:
    # The server reads "?utm_source" here, not a tracking parameter.
    assert normalise("http://h.pl/??utm_source=1").query == "?utm_source=1"


def test_the_tracking_list_is_configurable() -> None:
    raw = "http://h.pl/?sid=1&utm_source=2"
    assert normalise(raw, frozenset({"sid"})).query == "utm_source=2"
    assert normalise(raw, frozenset()).query == "sid=1&utm_source=2"
    assert strip_tracking("a=1&sid=2", frozenset({"sid"})) == "a=1"


def test_name_that_is_not_utf8_is_kept() -> None:
    assert normalise("http://h.pl/?%FF=1&utm_id=2").query == "%FF=1"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://h.pl/~a", "http://h.pl/%7ea"),  # WHATWG does not decode
        ("http://h.pl/%7ea", "http://h.pl/%7Ea"),
        ("http://h.pl/A", "http://h.pl/a"),
        ("http://h.pl/?a=1&b=2", "http://h.pl/?b=2&a=1"),
        ("http://h.pl/?a=+", "http://h.pl/?a=%20"),
        ("http://h.pl/a/", "http://h.pl/a"),
        ("http://h.pl:443/", "https://h.pl/"),
    ],
)
def test_spellings_a_server_may_read_differently_stay_apart(one: str, other: str) -> None:
    assert normalise(one).url != normalise(other).url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://EXAMPLE.COM:80/A/./b/../C?#frag", "http://example.com/A/C"),
        ("https://przykład.pl/Zdjęcie", "https://xn--przykad-rjb.pl/Zdj%C4%99cie"),
        ("https://XN--PRZYKAD-RJB.PL:443", "https://xn--przykad-rjb.pl/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433:0080/", "http://127.0.0.1/"),
        ("http://[0:0:0:0:0:0:0:1]:80/", "http://[::1]/"),
        ("http://example.com/a/%2e%2E/b", "http://example.com/b"),
        ("http:\\\\example.com\\a\\b", "http://example.com/a/b"),
        ("  http://exa\tmple.com/a\nb \n", "http://example.com/ab"),
        ("http://ｅｘａｍｐｌｅ.com/", "http://example.com/"),
        ("http://example.com/a b?c d", "http://example.com/a%20b?c%20d"),
    ],
)
def test_canonical_spelling(raw: str, canonical: str) -> None:
    assert normalise(raw).url == canonical


def test_parts_of_a_normalised_url() -> None:
    url = normalise("HTTPS://Bücher.DE:8443/Ein/Buch?x=1&utm_term=a#s")
    assert url == NormalisedUrl(
        url="https://xn--bcher-kva.de:8443/Ein/Buch?x=1",
        scheme="https",
        host="xn--bcher-kva.de",
        host_unicode="bücher.de",
        registrable="xn--bcher-kva.de",
        port=8443,
        path="/Ein/Buch",
        query="x=1",
    )
    assert url.display == "https://bücher.de:8443/Ein/Buch?x=1"


@pytest.mark.parametrize(
    ("raw", "registrable"),
    [
        ("http://a.b.example.co.uk/x", "example.co.uk"),
        ("http://img.example.test:8080/x", "example.test"),
        ("http://example.com./x", "example.com"),
        ("http://foo.blogspot.com/x", "foo.blogspot.com"),  # a private suffix: a user's own
        ("http://x.y.gov.pl/", "y.gov.pl"),
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://[::1]/", "[::1]"),
        ("http://localhost/", "localhost"),
    ],
)
def test_registrable_domain_by_the_public_suffix_list(raw: str, registrable: str) -> None:
    assert normalise(raw).registrable == registrable


def test_ip_and_ascii_hosts_display_as_they_are() -> None:
    assert normalise("http://[::1]/").host_unicode == "[::1]"
    assert normalise("http://example.com/").display == "http://example.com/"


def test_key_folds_spellings_and_separates_items() -> None:
    a = key(normalise("HTTP://Example.com:80/x?utm_source=s#f"))
    assert a == key(normalise("http://example.com/x"))
    assert a != key(normalise("http://example.com/X"))
    assert len(a) == 64 and int(a, 16) >= 0


# --- refused input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("javascript:alert(1)", "scheme"),
        ("JavaScript://example.com/%0Aalert(1)", "scheme"),
        ("mailto:abuse@example.org", "scheme"),
        ("data:text/html,<b>x</b>", "scheme"),
        ("ftp://example.com/file", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://", "no_host"),
        ("https:///", "no_host"),
        ("http://?q=1", "no_host"),
        ("http:#x", "no_host"),
        ("http://" + "a" * MAX_LENGTH, "too_long"),
        ("http://example.com/\x00", "control_char"),
        ("http://exa\x00mple.com/", "control_char"),
        ("http://example.com/\x7f", "control_char"),
        ("", "empty"),
        (" \t\n ", "empty"),
        ("example.com/path", "no_scheme"),
        ("//example.com/path", "no_scheme"),
        ("http://exa mple.com/", "not_a_url"),
        ("http://example.com:99999/", "not_a_url"),
        ("http://1.2.3.256/", "not_a_url"),
        ("http://[::1/", "not_a_url"),
    ],
)
def test_refused_input_says_why(raw: str, code: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        normalise(raw)
    assert refused.value.code == code
    assert refused.value.message


def test_the_length_limit_is_inclusive() -> None:
    base = "http://example.com/"
    assert len(normalise(base + "a" * (MAX_LENGTH - len(base))).url) == MAX_LENGTH
    with pytest.raises(UrlRefused, match="too_long"):
        normalise(base + "a" * (MAX_LENGTH - len(base) + 1))


def test_a_url_that_grows_past_the_limit_when_encoded_is_refused() -> None:
    with pytest.raises(UrlRefused) as refused:
        normalise("http://example.com/" + "ł" * 400)  # 6 characters each once encoded
    assert refused.value.code == "too_long"
