"""The pure hash chain: any alteration or removal is found, and named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tarcza.audit import chain


def make_chain(n: int) -> list[chain.Entry]:
    entries, prev = [], chain.GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        fields = dict(
            seq=seq,
            created_at=start + timedelta(seconds=seq),
            actor="public",
            agency=None,
            action="report.created",
            subject_type="report",
            subject_id=f"TZ-0000-{seq:04d}",
            reason=None,
            details=chain.canonical_json({"n": seq}),
            prev_hash=prev,
        )
        digest = chain.entry_hash(**fields)  # type: ignore[arg-type]
        entries.append(chain.Entry(entry_hash=digest, **fields))  # type: ignore[arg-type]
        prev = digest
    return entries


def test_an_untouched_chain_verifies_with_its_count() -> None:
    assert chain.verify(make_chain(5)) == chain.Verdict(ok=True, count=5)


def test_an_empty_chain_verifies() -> None:
    assert chain.verify([]).ok


def test_an_altered_entry_is_named() -> None:
    entries = make_chain(5)
    entries[2] = replace(entries[2], actor="someone else")
    verdict = chain.verify(entries)
    assert (verdict.ok, verdict.broken_seq, verdict.count) == (False, 3, 2)
    assert verdict.problem == "its content was altered"


def test_a_removed_entry_is_named() -> None:
    entries = make_chain(5)
    del entries[1]
    verdict = chain.verify(entries)
    assert not verdict.ok and verdict.broken_seq == 2


def test_a_rehashed_alteration_breaks_the_next_link() -> None:
    entries = make_chain(4)
    forged = replace(entries[1], details='{"n":99}')
    entries[1] = replace(forged, entry_hash=chain.recompute(forged))
    verdict = chain.verify(entries)
    assert not verdict.ok and verdict.broken_seq == 3


def test_timestamps_hash_the_same_in_any_time_zone() -> None:
    moment = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    local = moment.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Warsaw"))
    assert chain.timestamp(moment) == chain.timestamp(local) == "2026-05-01T12:00:00.123456Z"


FIELDS = [
    "created_at",
    "actor",
    "agency",
    "action",
    "subject_type",
    "subject_id",
    "reason",
    "details",
    "prev_hash",
    "entry_hash",
    "seq",
]


@given(
    n=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_every_random_tampering_is_detected(n: int, data: st.DataObject) -> None:
    entries = make_chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    how = data.draw(st.sampled_from(["alter", "remove", "swap", "insert"]))
    if how == "alter":
        field = data.draw(st.sampled_from(FIELDS))
        old = getattr(entries[index], field)
        if field == "created_at":
            new = old + timedelta(microseconds=data.draw(st.integers(1, 10**9)))
        elif field == "seq":
            new = old + data.draw(st.integers(1, 5))
        else:
            new = data.draw(st.text(min_size=1, max_size=20).filter(lambda s: s != old))
        entries[index] = replace(entries[index], **{field: new})
    elif how == "remove":
        del entries[index]
        if not entries:
            return  # an emptied log is a cut-off tail: only a checkpoint catches it
        if index == len(entries):
            return  # likewise a removed last entry
    elif how == "swap":
        if n < 2:
            return
        other = (index + 1) % n
        entries[index], entries[other] = entries[other], entries[index]
    else:
        entries.insert(index, replace(entries[index], actor="inserted"))
    assert not chain.verify(entries).ok
