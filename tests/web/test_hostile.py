"""Hostile input never makes the server fail: whatever arrives, the answer is not a 5xx.

Arbitrary JSON values, random bytes under any content type, random headers and random
form fields are sent to the API and to the public pages, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from tarcza.intake.models import Throttle
from tarcza.store.engine import Database

REPORTS = "/api/v1/reports"

HOSTILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text with the characters that break things: NUL and other controls, surrogates' neighbours,
# right-to-left marks, combining marks, emoji, and look-alikes of URL delimiters.
nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\r", "\n", "\t", "\x85", "\u202e", "\ufeff", "\uff0f", "🏴"]),
    ),
    max_size=80,
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(nasty_text, inner, max_size=5),
    max_leaves=20,
)
REPORT_FIELDS = (
    "category",
    "description",
    "urls",
    "child_in_danger",
    "child_age_range",
    "platform",
    "usernames",
    "contact",
    "language",
)
# Report-shaped objects reach further into validation than random objects do.
report_like = st.dictionaries(
    st.sampled_from(REPORT_FIELDS) | nasty_text,
    st.one_of(
        json_values,
        st.sampled_from(["csam", "sextortion", "grooming", "other", "13_15", "pl", "en"]),
        st.lists(
            st.sampled_from(["https://example.com/x", "http://[::1/", "ftp://x"]) | nasty_text
        ),
    ),
    max_size=9,
)
header_value = st.binary(max_size=300).map(
    lambda raw: bytes(b for b in raw if b in range(0x20, 0x7F) or b >= 0x80 or b == 0x09)
)
content_types = st.one_of(
    st.sampled_from(
        [
            b"application/json",
            b"application/json; charset=latin-1",
            b"multipart/form-data",
            b"multipart/form-data; boundary=xyz",
            b"multipart/form-data; boundary=",
            b"application/x-www-form-urlencoded",
            b"text/plain",
            b"",
        ]
    ),
    header_value,
)


def forget_failures(db: Database) -> None:
    """Lift PIN lock-outs, so that every example reaches the lookup and not just the lock."""
    with db.transaction() as session:
        session.execute(delete(Throttle))


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


def api_error_is_json(response: Any) -> None:
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        assert "detail" in response.json()


CANARY = "canary-5e1d"
VALID_REPORT: dict[str, Any] = {
    "category": "grooming",
    "description": "An adult keeps messaging a child.",
    "urls": ["https://example.com/u/1"],
    "usernames": ["someone"],
    "contact": {"email": "me@example.com"},
}


@HOSTILE
@given(
    field=st.sampled_from([*REPORT_FIELDS, "contact.name", "contact.email", "contact.phone"]),
    junk=nasty_text,
    shape=st.sampled_from(["text", "list", "object"]),
)
def test_an_error_answer_never_echoes_a_submitted_value(
    client: TestClient, field: str, junk: str, shape: str
) -> None:
    value: Any = f"{junk}{CANARY}{junk}"
    value = {"text": value, "list": [value], "object": {"k": value}}[shape]
    body = json.loads(json.dumps(VALID_REPORT))
    if field.startswith("contact."):
        body["contact"][field.removeprefix("contact.")] = value
    else:
        body[field] = value

    response = client.post(REPORTS, json=body)

    assert_no_server_error(response)
    if response.status_code >= 400:
        assert CANARY not in response.text


@HOSTILE
@given(body=st.one_of(json_values, report_like), key=st.none() | header_value)
def test_any_json_value_posted_to_the_api_is_answered_without_a_server_error(
    client: TestClient, body: Any, key: bytes | None
) -> None:
    headers: dict[str, Any] = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = client.post(REPORTS, content=json.dumps(body).encode(), headers=headers)
    assert_no_server_error(response)
    api_error_is_json(response)


@HOSTILE
@given(body=st.binary(max_size=2000), content_type=content_types)
def test_random_bytes_under_any_content_type_are_answered_without_a_server_error(
    client: TestClient, body: bytes, content_type: bytes
) -> None:
    response = client.post(REPORTS, content=body, headers={"Content-Type": content_type})
    assert_no_server_error(response)
    api_error_is_json(response)


@HOSTILE
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Idempotency-Key",
                "X-Report-PIN",
                "Content-Type",
                "Accept",
                "Accept-Language",
                "Cookie",
                "X-Forwarded-For",
                "Host",
                "Transfer-Encoding",
            ]
        ),
        header_value,
        max_size=5,
    ),
    body=report_like,
)
def test_random_headers_are_answered_without_a_server_error(
    client: TestClient, headers: dict[str, bytes], body: dict[str, Any]
) -> None:
    headers.setdefault("Content-Type", b"application/json")
    for method, path in (
        ("POST", REPORTS),
        ("GET", f"{REPORTS}/TZ-0000-0000/status"),
        ("GET", "/"),
    ):
        response = client.request(method, path, content=json.dumps(body).encode(), headers=headers)
        assert_no_server_error(response)


@HOSTILE
@given(reference=nasty_text, pin=header_value)
def test_any_reference_and_pin_on_the_status_api_are_answered_without_a_server_error(
    client: TestClient, db: Database, reference: str, pin: bytes
) -> None:
    forget_failures(db)
    path = f"{REPORTS}/{urllib.parse.quote(reference, safe='')}/status"
    response = client.get(path, headers={"X-Report-PIN": pin})
    assert_no_server_error(response)
    assert response.status_code in (404, 422, 429)
    api_error_is_json(response)


@HOSTILE
@given(
    report_field=st.none() | nasty_text | report_like.map(json.dumps),
    files=st.lists(st.tuples(nasty_text, st.binary(max_size=500)), max_size=3),
    extra=st.dictionaries(nasty_text, nasty_text, max_size=3),
)
def test_random_multipart_reports_are_answered_without_a_server_error(
    client: TestClient,
    report_field: str | None,
    files: list[tuple[str, bytes]],
    extra: dict[str, str],
) -> None:
    data = dict(extra)
    if report_field is not None:
        data["report"] = report_field
    response = client.post(
        REPORTS,
        data=data,
        files=[("files", (name or "f", content)) for name, content in files] or None,
    )
    assert_no_server_error(response)


FORM_FIELDS = (
    "category",
    "description",
    "urls",
    "platform",
    "usernames",
    "child_age_range",
    "contact_name",
    "contact_email",
    "contact_phone",
    "child_in_danger",
    "form_token",
)


@HOSTILE
@given(
    fields=st.dictionaries(
        st.sampled_from(FORM_FIELDS) | nasty_text,
        nasty_text | st.sampled_from(["csam", "grooming", "yes", "13_15", "https://example.com"]),
        max_size=12,
    ),
    files=st.lists(st.tuples(nasty_text, st.binary(max_size=300)), max_size=2),
    lang=st.none() | st.sampled_from(["pl", "en", "xx"]) | nasty_text,
)
def test_random_report_forms_are_answered_without_a_server_error(
    client: TestClient, fields: dict[str, str], files: list[tuple[str, bytes]], lang: str | None
) -> None:
    params = {"lang": lang} if lang is not None else None
    response = client.post(
        "/report",
        data=fields,
        files=[("files", (name or "f", content)) for name, content in files] or None,
        params=params,
    )
    assert_no_server_error(response)
    assert response.headers["content-type"].startswith("text/html")


@HOSTILE
@given(
    fields=st.fixed_dictionaries(
        {}, optional={"reference": nasty_text, "pin": nasty_text, "lang": nasty_text}
    ).flatmap(
        lambda known: st.dictionaries(nasty_text, nasty_text, max_size=3).map(
            lambda extra: {**extra, **known}
        )
    )
)
def test_random_status_forms_are_answered_without_a_server_error(
    client: TestClient, db: Database, fields: dict[str, str]
) -> None:
    forget_failures(db)
    response = client.post("/status", data=fields)
    assert_no_server_error(response)
    assert response.status_code in (200, 400, 404, 413, 422, 429)


@HOSTILE
@given(
    body=st.binary(max_size=1000),
    content_type=content_types,
    path=st.sampled_from(["/report", "/status"]),
)
def test_random_bytes_posted_to_the_pages_are_answered_without_a_server_error(
    client: TestClient, body: bytes, content_type: bytes, path: str
) -> None:
    response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert_no_server_error(response)


@pytest.mark.parametrize("path", ["/report", "/status"])
def test_a_nul_in_a_form_field_is_answered_without_a_server_error(
    client: TestClient, path: str
) -> None:
    response = client.post(
        path,
        data={"reference": "TZ\x00", "pin": "1\x00", "description": "a\x00", "category": "csam"},
    )
    assert_no_server_error(response)
