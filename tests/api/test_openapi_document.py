"""The OpenAPI document says exactly what the API accepts.

The patterns published for URLs, e-mail addresses, phone numbers and free text must
accept what the intake rules accept and refuse what they refuse — clients and the
schemathesis tests generate requests from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tarcza.intake import rules
from tarcza.intake.schemas import (
    EMAIL_PATTERN,
    MULTI_LINE,
    NOT_BLANK,
    PHONE_PATTERN,
    SINGLE_LINE,
    URL_PATTERN,
    ReportIn,
)

Check = Callable[[str, str], str]


def matches(pattern: str, value: str) -> bool:
    """JSON Schema's reading: a search, with ``$`` the end of the string (not before a newline)."""
    if pattern.endswith("$"):
        pattern = pattern[:-1] + r"\Z"
    return re.search(pattern, value) is not None


def accepts(check: Check, value: str) -> bool:
    try:
        check("field", value)
    except rules.RuleViolation:
        return False
    return True


def single_line(field: str, value: str) -> str:
    return rules.clean_text(field, value, 10**6)


def multi_line(field: str, value: str) -> str:
    return rules.clean_text(field, value, 10**6, multiline=True)


def said_something(field: str, value: str) -> str:
    if not multi_line(field, value):
        raise rules.RuleViolation(field, "nothing_reported", "blank")
    return value


# Pieces that sit on the rules' edges: schemes, delimiters, ports, blanks, controls,
# and characters that Unicode normalisation turns into delimiters.
PIECES = [
    "http",
    "HTTPS",
    "hTtP",
    "ftp",
    "://",
    ":/",
    ":",
    "@",
    "/",
    "?",
    "#",
    "[",
    "]",
    "[::1]",
    ".",
    "a",
    "example.com",
    "é",
    "%",
    "\\",
    "0",
    "80",
    "00080",
    "65535",
    "65536",
    "99999",
    "+48",
    "(",
    ")",
    "-",
    " ",
    "\u00a0",
    "\u3000",
    "\ufeff",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x1f",
    "\x7f",
    "\x85",
    "\u2028",
    "\uff0f",
    "\uff20",
    "\u2100",
    "\ufe55",
    "²",
    "١",
]
edge_strings = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


def _part(*choices: str, max_size: int = 3) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from([*choices, *PIECES]), max_size=max_size).map("".join)


# URL-shaped strings: each part mostly right, sometimes wrong.
ipv6_ish = st.one_of(
    st.sampled_from(["::1", "::", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "fe80::1%eth0", "v1.x"]),
    st.text("0123456789abcdefABCDEF:.%", max_size=24),
)
url_shaped = st.tuples(
    _part(" ", "\u00a0", max_size=2),
    st.sampled_from(["http", "https", "HTTP", "ftp", "http:", ""]),
    st.sampled_from(["://", ":/", "//", ":"]),
    st.one_of(st.just(""), _part("user", ":pw", "[", max_size=2).map(lambda u: u + "@")),
    st.one_of(_part("example.com", "é", max_size=2), ipv6_ish.map(lambda a: f"[{a}]")),
    _part("]", "x", max_size=1),
    st.one_of(st.just(""), _part("0", "80", "65535", "65536", max_size=2).map(lambda p: ":" + p)),
    _part("/", "/a?b=c#d", "?", "#", max_size=3),
    _part(" ", "\u3000", max_size=2),
).map("".join)
any_text = st.one_of(edge_strings, url_shaped, st.text(max_size=20))

CASES: list[tuple[str, str, Check]] = [
    ("url", URL_PATTERN["pattern"], rules.check_url),
    ("email", EMAIL_PATTERN["pattern"], rules.check_email),
    ("phone", PHONE_PATTERN["pattern"], rules.check_phone),
    ("single line", SINGLE_LINE["pattern"], single_line),
    ("multi line", MULTI_LINE["pattern"], multi_line),
]

MAX_LENGTHS = {"url": rules.MAX_URL_LENGTH, "email": rules.MAX_EMAIL, "phone": rules.MAX_PHONE}


@settings(max_examples=3000, deadline=None)
@given(value=any_text)
def test_each_pattern_accepts_exactly_what_its_rule_accepts(value: str) -> None:
    for name, pattern, check in CASES:
        assert matches(pattern, value) == accepts(check, value), (name, value)


def _generated(name: str, pattern: str) -> st.SearchStrategy[str]:
    longest = MAX_LENGTHS.get(name, 10**6)  # the document's maxLength, beside the pattern
    strings = st.from_regex(pattern.removesuffix("$") + r"\Z")
    return strings.filter(lambda value: len(value) <= longest)


GENERATED = st.tuples(*[_generated(name, pattern) for name, pattern, _ in CASES])


@settings(max_examples=200, deadline=None)
@given(values=GENERATED)
def test_what_each_pattern_generates_is_accepted(values: tuple[str, ...]) -> None:
    for (name, _, check), value in zip(CASES, values, strict=True):
        assert accepts(check, value), (name, value)


@settings(max_examples=1000, deadline=None)
@given(value=any_text)
def test_a_description_says_something_exactly_when_it_has_a_character_that_is_not_blank(
    value: str,
) -> None:
    expected = accepts(said_something, value)
    assert (matches(MULTI_LINE["pattern"], value) and matches(NOT_BLANK, value)) == expected


def _property(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    node = schema
    for key in path:
        node = node[key]
    return node


def test_the_report_schema_carries_the_patterns_and_limits() -> None:
    schema = ReportIn.model_json_schema()
    props = schema["properties"]
    assert props["description"]["maxLength"] == rules.MAX_DESCRIPTION
    assert props["description"]["pattern"] == MULTI_LINE["pattern"]
    assert props["urls"]["maxItems"] == rules.MAX_URLS
    assert props["urls"]["items"]["pattern"] == URL_PATTERN["pattern"]
    assert props["urls"]["items"]["maxLength"] == rules.MAX_URL_LENGTH
    contact = _property(schema, "$defs", "ContactIn", "properties")
    assert contact["email"]["anyOf"][0]["pattern"] == EMAIL_PATTERN["pattern"]
    assert contact["phone"]["anyOf"][0]["pattern"] == PHONE_PATTERN["pattern"]
    assert schema["additionalProperties"] is False
