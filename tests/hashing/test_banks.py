"""Bank values and exchange files (pure): validation, every format's parser, round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.hashing import formats
from tarcza.hashing.banks import (
    Entry,
    InvalidSignal,
    SignalType,
    check_bank_name,
    check_label,
    check_threshold,
    lookup_key,
    make_entry,
    normalise_signal,
    parse_signal_type,
)
from tarcza.hashing.formats import ExchangeFormat, parse_csv, parse_te, parse_vics

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# -- strategies -----------------------------------------------------------------------------

_SIZES = {SignalType.MD5: 16, SignalType.SHA1: 20, SignalType.SHA256: 32, SignalType.PDQ: 32}
labels = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
    ).filter(lambda s: s.strip() == s and s != ""),
)


def hex_signals(kind: SignalType) -> st.SearchStrategy[str]:
    size = _SIZES[kind]
    return st.binary(min_size=size, max_size=size).map(bytes.hex)


vpdq_signals = st.lists(
    st.tuples(hex_signals(SignalType.PDQ), st.integers(0, 100), st.integers(0, 10**6)),
    min_size=1,
    max_size=4,
).map(
    lambda frames: normalise_signal(
        SignalType.VPDQ, json.dumps([f"{h},{q},{ms / 1000}" for h, q, ms in frames])
    )
)


def entries_of(
    kinds: list[SignalType], label_strategy: st.SearchStrategy[str | None]
) -> st.SearchStrategy[set[Entry]]:
    one = st.one_of(
        *[
            st.builds(
                Entry,
                st.just(k),
                vpdq_signals if k is SignalType.VPDQ else hex_signals(k),
                label_strategy,
            )
            for k in kinds
        ]
    )
    return st.lists(one, max_size=30, unique_by=lambda e: (e.signal_type, e.value)).map(set)


# -- values ---------------------------------------------------------------------------------


def test_signals_are_normalised_to_lowercase_hex() -> None:
    assert normalise_signal(SignalType.PDQ, f"  {PDQ.upper()} ") == PDQ
    assert normalise_signal(SignalType.MD5, MD5.upper()) == MD5
    assert make_entry("SHA256", SHA256.upper(), "  a label ") == Entry(
        SignalType.SHA256, SHA256, "a label"
    )


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        (SignalType.PDQ, PDQ[:-1], "invalid_pdq"),
        (SignalType.PDQ, PDQ[:-1] + "g", "invalid_pdq"),
        (SignalType.MD5, SHA256, "invalid_md5"),
        (SignalType.SHA256, MD5, "invalid_sha256"),
        (SignalType.SHA1, MD5, "invalid_sha1"),
        (SignalType.VPDQ, "[]", "invalid_vpdq"),
        (SignalType.VPDQ, json.dumps([f"{PDQ},101,0"]), "invalid_vpdq"),
        (SignalType.VPDQ, "not json", "invalid_vpdq"),
    ],
)
def test_malformed_signals_are_refused_with_a_code(kind: SignalType, value: str, code: str) -> None:
    with pytest.raises(InvalidSignal) as caught:
        normalise_signal(kind, value)
    assert caught.value.code == code


def test_signal_type_aliases_from_threatexchange_and_hma() -> None:
    assert parse_signal_type("video_md5") is SignalType.MD5
    assert parse_signal_type("PDQ") is SignalType.PDQ
    with pytest.raises(InvalidSignal):
        parse_signal_type("photodna")


def test_long_vpdq_signals_are_looked_up_by_their_sha256() -> None:
    long = normalise_signal(SignalType.VPDQ, json.dumps([f"{PDQ},100,0", f"{PDQ},90,1.5"]))
    assert len(lookup_key(long)) == 64 and lookup_key(long) != long[:64]
    assert lookup_key(PDQ) == PDQ


def test_bank_names_labels_and_thresholds_are_checked() -> None:
    assert check_bank_name(" NCMEC_hashes-2024.1 ") == "NCMEC_hashes-2024.1"
    for bad in ("", "-x", "a b", "x" * 101, "bank/1"):
        with pytest.raises(InvalidSignal):
            check_bank_name(bad)
    assert check_label("  ") is None
    with pytest.raises(InvalidSignal):
        check_label("two\nlines")
    assert check_threshold(0) == 0
    with pytest.raises(InvalidSignal):
        check_threshold(65)


# -- CSV ------------------------------------------------------------------------------------


def test_csv_reads_with_or_without_a_header() -> None:
    body = f"pdq,{PDQ},known\nmd5,{MD5.upper()}\n\n# a comment\nsha256,{SHA256},\n"
    for text in (body, "signal_type,signal,label\n" + body):
        result = parse_csv(text)
        assert result.ok
        assert set(result.entries) == {
            Entry(SignalType.PDQ, PDQ, "known"),
            Entry(SignalType.MD5, MD5),
            Entry(SignalType.SHA256, SHA256),
        }


def test_csv_reports_every_malformed_line_with_its_number() -> None:
    text = "\n".join(
        [
            "signal_type,signal,label",
            f"pdq,{PDQ},ok",
            f"pdq,{PDQ[:10]},short",  # line 3
            "sha512,abc",  # line 4
            f"md5,{MD5},a,b",  # line 5
            f"md5,{MD5}",
        ]
    )
    result = parse_csv(text)
    assert [(e.line, e.code) for e in result.errors] == [
        (3, "invalid_pdq"),
        (4, "unknown_signal_type"),
        (5, "wrong_columns"),
    ]
    assert result.error_count == 3 and not result.ok


def test_errors_are_listed_up_to_a_cap_and_all_counted() -> None:
    text = "\n".join(f"pdq,bad{i}" for i in range(formats.MAX_REPORTED_ERRORS + 50))
    result = parse_csv(text)
    assert len(result.errors) == formats.MAX_REPORTED_ERRORS
    assert result.error_count == formats.MAX_REPORTED_ERRORS + 50
    assert result.errors[-1].line == formats.MAX_REPORTED_ERRORS


def test_duplicates_are_folded_keeping_the_first() -> None:
    result = parse_csv(f"pdq,{PDQ},first\npdq,{PDQ.upper()},second\n")
    assert result.entries == (Entry(SignalType.PDQ, PDQ, "first"),)
    assert result.duplicates == 1


@given(entries_of(list(SignalType), labels))
def test_csv_round_trip(entries: set[Entry]) -> None:
    result = parse_csv(formats.to_csv(entries))
    assert result.ok and set(result.entries) == entries


# -- python-threatexchange text -------------------------------------------------------------


def test_te_reads_typed_and_bare_lines() -> None:
    text = f"pdq {PDQ}\n{PDQ.replace('f8', '00')}\nvideo_md5 {MD5}\n\n# note\n"
    result = parse_te(text, SignalType.PDQ)
    assert result.ok
    assert set(result.entries) == {
        Entry(SignalType.PDQ, PDQ),
        Entry(SignalType.PDQ, PDQ.replace("f8", "00")),
        Entry(SignalType.MD5, MD5),
    }


def test_te_reports_bad_lines_by_number() -> None:
    result = parse_te(f"{PDQ}\nnot-a-hash\npdq {PDQ}\nsha256 1234\n", SignalType.PDQ)
    assert [(e.line, e.code) for e in result.errors] == [(2, "invalid_pdq"), (4, "invalid_sha256")]


@given(entries_of(list(SignalType), st.none()))
def test_te_round_trip(entries: set[Entry]) -> None:
    result = parse_te(formats.to_te(entries))
    assert result.ok and set(result.entries) == entries


@given(entries_of([SignalType.PDQ], st.none()))
def test_te_bare_pdq_round_trip(entries: set[Entry]) -> None:
    text = formats.to_te(entries, bare_type=SignalType.PDQ)
    assert all(" " not in line for line in text.splitlines())
    assert set(parse_te(text, SignalType.PDQ).entries) == entries


# -- VICS -----------------------------------------------------------------------------------


def test_vics_media_list_gives_md5_and_sha1_with_the_category() -> None:
    document = {
        "@odata.context": formats.VICS_CONTEXT,
        "value": [
            {"MediaID": 1, "Category": 1, "MD5": MD5.upper(), "SHA1": SHA1.upper()},
            {"MediaID": 2, "Category": None, "MD5": MD5.replace("d4", "00")},
        ],
    }
    result = parse_vics(json.dumps(document))
    assert result.ok
    assert set(result.entries) == {
        Entry(SignalType.MD5, MD5, "vics:1"),
        Entry(SignalType.SHA1, SHA1, "vics:1"),
        Entry(SignalType.MD5, MD5.replace("d4", "00"), None),
    }


def test_vics_cases_and_version_1_3_files_are_read() -> None:
    cases = {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases",
        "value": [{"CaseID": "c-1", "Media": [{"MediaID": 1, "Category": 2, "MD5": MD5}]}],
    }
    old = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
        "value": [{"MediaID": 1, "Category": 2, "SHA1": SHA1}],
    }
    assert parse_vics(json.dumps(cases)).entries == (Entry(SignalType.MD5, MD5, "vics:2"),)
    assert parse_vics(json.dumps(old)).entries == (Entry(SignalType.SHA1, SHA1, "vics:2"),)


def test_vics_reports_bad_items_by_place_and_bad_json_by_line() -> None:
    document = {
        "value": [
            {"MediaID": 1, "MD5": "xyz"},
            {"MediaID": 2},
            {"MediaID": 3, "Category": "one", "MD5": MD5},
            "nonsense",
        ]
    }
    result = parse_vics(json.dumps(document))
    assert [(e.where, e.code) for e in result.errors] == [
        ("value[0].MD5", "invalid_md5"),
        ("value[1]", "no_hash"),
        ("value[2].Category", "invalid_category"),
        ("value[3]", "not_an_object"),
    ]
    broken = parse_vics('{\n "value": [\n  {"MD5": }\n ]\n}')
    assert broken.errors[0].code == "malformed_json" and broken.errors[0].line == 3
    assert parse_vics("[]").errors[0].code == "not_vics"


vics_labels = st.one_of(st.none(), st.integers(0, 99).map(lambda n: f"vics:{n}"))


@given(entries_of([SignalType.MD5, SignalType.SHA1], vics_labels))
def test_vics_round_trip(entries: set[Entry]) -> None:
    text, skipped = formats.to_vics(entries)
    assert skipped == 0
    result = parse_vics(text)
    assert result.ok and set(result.entries) == entries


def test_vics_export_leaves_out_what_it_cannot_hold() -> None:
    text, skipped = formats.to_vics([Entry(SignalType.PDQ, PDQ), Entry(SignalType.MD5, MD5, "x")])
    document = json.loads(text)
    assert skipped == 1
    assert document["value"] == [{"MediaID": 1, "Category": None, "MD5": MD5.upper()}]


@pytest.mark.parametrize("fmt", list(ExchangeFormat))
def test_parse_and_serialise_dispatch_by_format(fmt: ExchangeFormat) -> None:
    entries = {Entry(SignalType.MD5, MD5, "vics:1" if fmt is ExchangeFormat.VICS else None)}
    text, _ = formats.serialise(fmt, entries)
    assert set(formats.parse(fmt, text).entries) == entries
