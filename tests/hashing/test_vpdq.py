"""The vPDQ algorithm (hashing/vpdq.py): the reference's pairwise percentages on its sample
hashes, and properties: a video matches itself, duplicates change nothing, swapping the videos
swaps the two percentages, and the vectorised count equals a plain frame-by-frame count."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tarcza.hashing import vpdq
from tarcza.hashing.banks import InvalidSignal, normalise_signal
from tarcza.hashing.banks import SignalType as T
from tarcza.hashing.vpdq import VpdqFrame

# The repository is /work/main and the shared data /work/shared: ../shared from the repo root.
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "vpdq"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="vPDQ reference data not present")


def read_reference(name: str) -> list[VpdqFrame]:
    """A sample-hashes file: ``frame_number,quality,pdq_hex,timestamp`` per line."""
    return [frame for _, frame in read_numbered(name)]


@cache
def read_numbered(name: str) -> tuple[tuple[int, VpdqFrame], ...]:
    rows = []
    for line in (DATA / "sample-hashes" / f"{name}.txt").read_text().splitlines():
        number, quality, pdq, seconds = line.split(",")
        rows.append((int(number), VpdqFrame(pdq, int(quality), float(seconds))))
    return tuple(rows)


def pairwise_rows() -> list[dict[str, str]]:
    if not DATA.is_dir():
        return []
    with (DATA / "vpdq-pairwise.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@needs_data
def test_the_reference_percentages_and_decisions_are_reproduced_for_every_pair() -> None:
    rows = pairwise_rows()
    assert len(rows) == 256
    wrong = []
    for row in rows:
        query, compared = read_reference(row["query"]), read_reference(row["compared"])
        score = vpdq.score(query, compared)
        got = (
            len(vpdq.usable_hashes(query)),
            len(vpdq.usable_hashes(compared)),
            f"{score.query_match_pct:.2f}",
            f"{score.compared_match_pct:.2f}",
            int(vpdq.is_match(query, compared)),
        )
        expected = (
            int(row["query_unique_frames"]),
            int(row["compared_unique_frames"]),
            row["query_match_pct"],
            row["compared_match_pct"],
            int(row["pytx_default_match"]),
        )
        if got != expected:
            wrong.append((row["query"], row["compared"], got, expected))
    assert wrong == []
    # 16 videos matching themselves and 36 cross-video matches, as the reference decides.
    assert sum(int(r["pytx_default_match"]) for r in rows if r["query"] != r["compared"]) == 36


@needs_data
def test_a_cut_matches_the_longer_video_but_not_the_other_way_round() -> None:
    short, longer = read_reference("chair-19-sd-bar"), read_reference("chair-20-sd-bar")
    assert vpdq.score(short, longer) == vpdq.VpdqScore(100.0, pytest.approx(92.76, abs=0.005))
    assert vpdq.is_match(short, longer)
    strict = vpdq.VpdqThresholds(compared_match_pct=95.0)
    assert not vpdq.is_match(short, longer, strict)
    unrelated = read_reference("pattern-hd-no-bar")
    assert vpdq.score(short, unrelated).query_match_pct == 0.0
    assert not vpdq.is_match(short, unrelated)


def test_signals_round_trip_and_bad_ones_are_refused() -> None:
    frames = [VpdqFrame("ab" * 32, 100, 0.0), VpdqFrame("cd" * 32, 49, 1.0)]
    signal = vpdq.to_signal(frames)
    assert json.loads(signal) == [f"{'ab' * 32},100,0.000", f"{'cd' * 32},49,1.000"]
    assert vpdq.parse_signal(signal) == frames
    assert normalise_signal(T.VPDQ, json.dumps([f"{'AB' * 32},100,0"])) == json.dumps(
        [f"{'ab' * 32},100,0.000"], separators=(",", ":")
    )
    for bad in ("", "[]", "{}", "[1]", '["x,1,0"]', f'["{"ab" * 32},101,0"]', f'["{"ab" * 32},1"]'):
        with pytest.raises(vpdq.InvalidVpdq):
            vpdq.parse_signal(bad)
        with pytest.raises(InvalidSignal) as caught:
            normalise_signal(T.VPDQ, bad)
        assert caught.value.code == "invalid_vpdq"
    for pct in (-1, 100.5, True, "80"):
        with pytest.raises(vpdq.InvalidVpdq):
            vpdq.check_match_pct(pct)  # type: ignore[arg-type]


def test_a_video_without_usable_frames_matches_nothing() -> None:
    dull = [VpdqFrame("00" * 32, 10, 0.0)]
    good = [VpdqFrame("ab" * 32, 100, 0.0)]
    assert vpdq.score(dull, dull) == vpdq.VpdqScore(0.0, 0.0)
    assert not vpdq.is_match(dull, dull)
    assert not vpdq.is_match(good, dull) and not vpdq.is_match(dull, good)


# -- properties -----------------------------------------------------------------------------

hashes = st.integers(min_value=0, max_value=(1 << 256) - 1)
qualities = st.integers(min_value=0, max_value=100)


@st.composite
def videos(draw: st.DrawFn, bases: list[int] | None = None) -> list[VpdqFrame]:
    """Frames near a few base hashes (so that videos share scenes), some duplicates."""
    pool = bases if bases is not None else draw(st.lists(hashes, min_size=1, max_size=6))
    frames = []
    for second in range(draw(st.integers(min_value=1, max_value=25))):
        base = draw(st.sampled_from(pool))
        bits = draw(st.lists(st.integers(min_value=0, max_value=255), max_size=40))
        value = base
        for bit in bits:
            value ^= 1 << bit
        frames.append(VpdqFrame(f"{value:064x}", draw(qualities), float(second)))
    return frames


@st.composite
def video_pairs(draw: st.DrawFn) -> tuple[list[VpdqFrame], list[VpdqFrame]]:
    bases = draw(st.lists(hashes, min_size=1, max_size=6))
    return draw(videos(bases)), draw(videos(bases))


def plain_score(query: list[VpdqFrame], compared: list[VpdqFrame]) -> tuple[float, float]:
    """The reference's description, frame by frame, with no numpy."""

    def prepare(frames: list[VpdqFrame]) -> list[int]:
        seen: dict[str, VpdqFrame] = {}
        for frame in frames:
            seen.setdefault(frame.pdq, frame)
        return [int(f.pdq, 16) for f in seen.values() if f.quality >= 50]

    q, c = prepare(query), prepare(compared)

    def share(a: list[int], b: list[int]) -> float:
        if not a:
            return 0.0
        return sum(any((x ^ y).bit_count() <= 31 for y in b) for x in a) * 100 / len(a)

    return share(q, c), share(c, q)


@settings(max_examples=150, deadline=None)
@given(video_pairs())
def test_the_vectorised_count_equals_a_plain_count(pair: tuple[list, list]) -> None:  # type: ignore[type-arg]
    query, compared = pair
    score = vpdq.score(query, compared)
    assert (score.query_match_pct, score.compared_match_pct) == pytest.approx(
        plain_score(query, compared)
    )


@settings(max_examples=100, deadline=None)
@given(videos())
def test_a_video_matches_itself_fully(frames: list[VpdqFrame]) -> None:
    score = vpdq.score(frames, frames)
    if vpdq.usable_hashes(frames):
        assert score == vpdq.VpdqScore(100.0, 100.0)
        assert vpdq.is_match(frames, frames)
    else:
        assert not vpdq.is_match(frames, frames)


@settings(max_examples=100, deadline=None)
@given(video_pairs(), st.data())
def test_repeating_frames_changes_nothing(pair: tuple[list, list], data: st.DataObject) -> None:  # type: ignore[type-arg]
    query, compared = pair
    repeats = data.draw(st.lists(st.sampled_from(query), max_size=10))
    # A repeat comes after the frame it repeats (the first of equal hashes is the one kept).
    padded = query + [VpdqFrame(f.pdq, f.quality, f.timestamp + 100) for f in repeats]
    assert vpdq.score(padded, compared) == vpdq.score(query, compared)
    assert vpdq.score(compared, padded) == vpdq.score(compared, query)


@settings(max_examples=100, deadline=None)
@given(video_pairs())
def test_swapping_the_videos_swaps_the_percentages(pair: tuple[list, list]) -> None:  # type: ignore[type-arg]
    query, compared = pair
    forward, backward = vpdq.score(query, compared), vpdq.score(compared, query)
    assert (forward.query_match_pct, forward.compared_match_pct) == (
        backward.compared_match_pct,
        backward.query_match_pct,
    )
