"""The /ispws XML rules without a server: the hardened parser, the schema, the reading."""

from __future__ import annotations

import pytest

from tarcza.platforms import rules
from tarcza.platforms.rules import Code, IspwsRefused
from tests.platforms.support import file_details, fixture


def _refused(raw: bytes, root: str = "report") -> IspwsRefused:
    with pytest.raises(IspwsRefused) as caught:
        rules.parse(raw, root)
    return caught.value


def test_a_doctype_is_refused_in_any_encoding() -> None:
    text = (
        fixture("billion_laughs.xml")
        .decode()
        .replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    )
    raw = text.encode("utf-16")
    assert b"<!DOCTYPE" not in raw  # the byte check cannot see it: the parsed tree is checked
    refused = _refused(raw)
    assert refused.code is Code.VALIDATION_FAILED
    assert "DOCTYPE" in refused.description


def test_an_external_entity_is_never_fetched_or_read() -> None:
    raw = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<report>&x;</report>"
    )
    assert "DOCTYPE" in _refused(raw).description


def test_the_schema_names_what_is_wrong() -> None:
    refused = _refused(fixture("report_invalid.xml"))
    assert "incidentType" in refused.description
    assert "line 4" in refused.description


def test_reading_the_reports() -> None:
    sextortion = rules.read_report(rules.parse(fixture("report_sextortion.xml"), "report"))
    assert sextortion.category == "sextortion"
    assert not sextortion.child_in_danger
    assert sextortion.urls[1] == "http://mirror.example.net/x/abc123"
    assert sextortion.usernames == ("invented_user_1", "u-000123", "Invented User")
    assert "chatImIncident" in sextortion.description
    danger = rules.read_report(rules.parse(fixture("report_danger.xml"), "report"))
    assert danger.child_in_danger and danger.category == "other"
    minimal = rules.read_report(rules.parse(fixture("report_minimal.xml"), "report"))
    assert minimal.category == "csam" and minimal.urls == ()


def test_file_details_take_their_fields_in_any_order() -> None:
    raw = file_details(7, "ab" * 16, "cd" * 16)
    info = rules.read_file_details(rules.parse(raw, "fileDetails"))
    assert (info.report_id, info.classification, info.hashes) == (7, "A1", (("MD5", "cd" * 16),))
    bad = raw.replace(b">A1<", b">C3<")
    assert "industryClassification" in _refused(bad, "fileDetails").description


@pytest.mark.parametrize("value", [None, "", "abc", "0", "-1", "1e3", "١٢", "9" * 19])
def test_report_ids_are_positive_numbers(value: str | None) -> None:
    with pytest.raises(IspwsRefused) as caught:
        rules.report_id_of(value)
    assert caught.value.code is Code.INVALID_REQUEST
