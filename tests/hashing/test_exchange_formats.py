"""Exchange files that lose nothing (issue 15): python-threatexchange's text and VICS JSON as
third parties write them, and a round trip through the installed python-threatexchange CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.hashing import formats
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.formats import ExchangeFormat, parse_te, parse_vics
from tests.hashing.test_banks import MD5, PDQ, SHA1, SHA256, entries_of, hex_signals

# -- python-threatexchange text -------------------------------------------------------------


def test_te_export_names_md5_and_sha256_as_python_threatexchange_does() -> None:
    text = formats.to_te(
        [Entry(SignalType.MD5, MD5), Entry(SignalType.SHA256, SHA256), Entry(SignalType.PDQ, PDQ)]
    )
    assert sorted(text.splitlines()) == [f"pdq {PDQ}", f"video_md5 {MD5}", f"video_sha256 {SHA256}"]


def test_a_full_dataset_dump_skips_and_counts_what_tarcza_cannot_hold() -> None:
    dump = (
        f"url https://example.org/a\n"
        f"raw_text some invented words here\n"
        f"video_md5 {MD5}\n"
        f'trend_query {{"and": ["x"]}}\n'
        f"url https://example.org/b\n"
        f"pdq {PDQ} 'tarcza' INVESTIGATION_SEED\n"
    )
    result = parse_te(dump)
    assert result.ok
    assert set(result.entries) == {Entry(SignalType.MD5, MD5), Entry(SignalType.PDQ, PDQ)}
    assert dict(result.skipped) == {"url": 2, "raw_text": 1, "trend_query": 1}


def test_bare_lines_are_read_as_the_type_given_never_guessed() -> None:
    bare = f"{MD5}\n{MD5.replace('d4', '00')}\n"
    as_md5 = parse_te(bare, SignalType.MD5)
    assert as_md5.ok and {e.signal_type for e in as_md5.entries} == {SignalType.MD5}
    unsaid = parse_te(bare)
    assert not unsaid.ok
    assert [(e.line, e.code) for e in unsaid.errors] == [
        (1, "untyped_signal"),
        (2, "untyped_signal"),
    ]
    assert [e.code for e in parse_te(bare, SignalType.PDQ).errors] == ["invalid_pdq"] * 2
    # A typed line keeps its own type whatever the bare type is.
    mixed = parse_te(f"pdq {PDQ}\n{MD5}\n", SignalType.MD5)
    assert set(mixed.entries) == {Entry(SignalType.PDQ, PDQ), Entry(SignalType.MD5, MD5)}


def test_bare_lines_are_canonical_counted_once_and_bad_ones_reported_by_line() -> None:
    """Bare hex lines (checked on their own fast path) read as normalise_signal reads them."""
    other = PDQ.replace("f", "0")
    lines = [
        f"  {PDQ.upper()} ",  # 1: trimmed and lowercased
        "# a comment",
        PDQ,  # 3: the same signal again
        f"{PDQ} extra",  # 4: read as "<type> <signal>"
        f"pdq {other}",  # 5: typed
        PDQ[:-1] + "g",  # 6: not hex
        other.upper(),  # 7: the typed one again, bare
        "",
    ]
    result = parse_te("\n".join(lines), SignalType.PDQ)
    assert result.entries == (Entry(SignalType.PDQ, PDQ), Entry(SignalType.PDQ, other))
    assert result.duplicates == 2
    assert [(e.line, e.code) for e in result.errors] == [
        (4, "unknown_signal_type"),
        (6, "invalid_pdq"),
    ]


_TE_TYPES = [SignalType.MD5, SignalType.SHA256, SignalType.PDQ]
junk_lines = st.lists(
    st.tuples(
        st.sampled_from(["url", "raw_text", "trend_query", "url_md5"]),
        st.from_regex(r"[a-z/:][a-z /:]{0,20}", fullmatch=True),
    ),
    max_size=5,
)


@given(entries_of(_TE_TYPES, st.none()), junk_lines)
def test_te_dumps_with_other_types_keep_every_hash(
    entries: set[Entry], junk: list[tuple[str, str]]
) -> None:
    lines = formats.to_te(entries).splitlines() + [f"{kind} {value}" for kind, value in junk]
    result = parse_te("\n".join(sorted(lines)))
    assert result.ok and set(result.entries) == entries
    assert sum(n for _, n in result.skipped) == len(junk)


@given(
    st.sampled_from(_TE_TYPES).flatmap(
        lambda k: st.tuples(st.just(k), st.lists(hex_signals(k), max_size=8))
    )
)
def test_bare_lists_round_trip_with_their_type(case: tuple[SignalType, list[str]]) -> None:
    kind, values = case
    result = parse_te("".join(f"{v}\n" for v in values), kind)
    assert result.ok and {e.value for e in result.entries} == set(values)
    assert {e.signal_type for e in result.entries} <= {kind}


def _threatexchange() -> str:
    found = shutil.which("threatexchange", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the threatexchange CLI (python-threatexchange, a dev dependency) is missing")
    return found


def test_round_trip_through_the_installed_threatexchange_cli(tmp_path: Path) -> None:
    """tarcza → python-threatexchange (its own CLI: fetch from a local file, dump) → tarcza."""
    cli = _threatexchange()
    entries = {
        Entry(SignalType.MD5, MD5),
        Entry(SignalType.SHA256, SHA256),
        Entry(SignalType.PDQ, PDQ),
        Entry(SignalType.MD5, MD5.replace("d4", "11")),
    }
    exported = tmp_path / "bank.te"
    exported.write_text(formats.to_te(entries))
    env = {**os.environ, "HOME": str(tmp_path)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [cli, *args], env=env, capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout

    run("config", "collab", "edit", "local_file", "-C", "--filename", str(exported), "tarcza")
    run("fetch")
    signals_only = run("dataset", "-P", "-S")
    with_metadata = run("dataset", "-P")
    for dump in (signals_only, with_metadata):
        back = parse_te(dump)
        assert back.ok, back.errors
        assert set(back.entries) == entries


# -- VICS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["1", 1.0, " 1 ", 1])
def test_vics_category_as_a_string_or_a_float_is_read(category: object) -> None:
    document = {"value": [{"MediaID": 1, "Category": category, "MD5": MD5}]}
    result = parse_vics(json.dumps(document))
    assert result.ok and result.entries == (Entry(SignalType.MD5, MD5, "vics:1"),)


@pytest.mark.parametrize("category", ["one", 1.5, True, [1], "-1"])
def test_vics_categories_that_are_not_whole_numbers_are_named(category: object) -> None:
    document = {"value": [{"MediaID": 1, "Category": category, "MD5": MD5}]}
    assert [e.code for e in parse_vics(json.dumps(document)).errors] == ["invalid_category"]


def test_vics_entries_with_only_a_photodna_hash_are_skipped_and_counted() -> None:
    document = {
        "value": [
            {"MediaID": 1, "Category": 1, "PhotoDNA": "AAECAw" * 24},
            {"MediaID": 2, "Category": "2", "MD5": MD5, "PhotoDNA": "AAECAw" * 24},
            {"MediaID": 3, "Category": 1.0, "SHA1": SHA1},
            {"MediaID": 4, "Category": 3, "PhotoDNA": "AAECAw" * 24},
            {
                "MediaID": 5,
                "Category": 0,
                "AlternativeHashes": [{"HashName": "x", "HashValue": "y"}],
            },
        ]
    }
    result = parse_vics(json.dumps(document))
    assert result.ok
    assert set(result.entries) == {
        Entry(SignalType.MD5, MD5, "vics:2"),
        Entry(SignalType.SHA1, SHA1, "vics:1"),
    }
    assert dict(result.skipped) == {"PhotoDNA": 2, "AlternativeHashes": 1}


@given(
    st.lists(
        st.tuples(
            hex_signals(SignalType.MD5),
            st.integers(0, 9).flatmap(lambda n: st.sampled_from([n, str(n), float(n)])),
            st.booleans(),
        ),
        max_size=10,
        unique_by=lambda item: item[0],
    )
)
def test_vics_files_of_mixed_forms_are_never_refused(items: list[tuple[str, object, bool]]) -> None:
    media = [
        {"MediaID": i, "Category": category, **({"MD5": md5} if has_md5 else {"PhotoDNA": "AAAA"})}
        for i, (md5, category, has_md5) in enumerate(items)
    ]
    result = parse_vics(json.dumps({"value": media}))
    assert result.ok
    kept = {(md5, int(float(str(c)))) for md5, c, has in items if has}
    assert {
        (e.value, int(e.label.removeprefix("vics:"))) for e in result.entries if e.label
    } == kept
    assert dict(result.skipped).get("PhotoDNA", 0) == sum(1 for *_, has in items if not has)


def test_parse_passes_the_bare_type_for_te_only() -> None:
    assert formats.parse(ExchangeFormat.TE, f"{MD5}\n", SignalType.MD5).entries == (
        Entry(SignalType.MD5, MD5),
    )
