"""The sealed stream format (crypto.py): chunked AES-GCM written and read piece by piece.

Truncation, reordering, extension, another context or another header must all fail to open;
what was written must read back exactly, from any position, and Pillow must decode from it.
"""

from __future__ import annotations

import base64
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tarcza.config import Keys
from tarcza.crypto import STREAM_CHUNK, DecryptionError, KeyRing
from tests.support.keys import KEY_A, KEY_B

CONTEXT = "evidence:0123456789abcdef0123456789abcdef"
SMALL = 64  # a small chunk size keeps the property tests fast; one test uses the real one
TAG = 16


def ring(*ids: str) -> KeyRing:
    keys = {"a": base64.b64decode(KEY_A), "b": base64.b64decode(KEY_B)}
    return KeyRing(Keys(data_keys={i: keys[i] for i in ids}, current_key_id=ids[0], hmac_key=b""))


def seal(
    data: bytes,
    *,
    pieces: list[int] | None = None,
    chunk: int = SMALL,
    keyring: KeyRing | None = None,
) -> bytes:
    """``data`` sealed as a stream, written in pieces of the given sizes (cycled)."""
    out = io.BytesIO()
    writer = (keyring or ring("a")).stream_writer(out, CONTEXT, chunk_size=chunk)
    sizes = pieces or [len(data) or 1]
    at, i = 0, 0
    while at < len(data):
        size = max(1, sizes[i % len(sizes)])
        writer.write(data[at : at + size])
        at, i = at + size, i + 1
    writer.finish()
    return out.getvalue()


def unseal(blob: bytes, context: str = CONTEXT, keyring: KeyRing | None = None) -> bytes:
    with (keyring or ring("a")).open_stream(io.BytesIO(blob), context) as reader:
        return reader.read()


def header_length(blob: bytes) -> int:
    return 3 + blob[2] + 7 + 4


EDGE_SIZES = [0, 1, SMALL - 1, SMALL, SMALL + 1, 2 * SMALL, 3 * SMALL + 5]


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_a_stream_of_every_edge_size_reads_back(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    chunks = max(1, -(-size // SMALL))
    assert len(blob) == header_length(blob) + size + chunks * TAG
    assert unseal(blob) == data


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=5 * SMALL), pieces=st.lists(st.integers(1, 3 * SMALL), max_size=6))
def test_what_is_written_in_any_pieces_reads_back(data: bytes, pieces: list[int]) -> None:
    assert unseal(seal(data, pieces=pieces)) == data


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=5 * SMALL),
    reads=st.lists(st.tuples(st.integers(0, 6 * SMALL), st.integers(-1, 2 * SMALL)), max_size=8),
)
def test_seeking_and_reading_anywhere_gives_the_bytes_there(
    data: bytes, reads: list[tuple[int, int]]
) -> None:
    with ring("a").open_stream(io.BytesIO(seal(data)), CONTEXT) as reader:
        for position, size in reads:
            assert reader.seek(position) == position
            expected = data[position:] if size < 0 else data[position : position + size]
            assert reader.read(size) == expected
            assert reader.tell() == position + len(expected)
        assert reader.seek(-1, io.SEEK_END) == len(data) - 1
        assert reader.read() == data[-1:]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4 * SMALL), cut=st.integers(1, 5 * SMALL + 5 * TAG))
def test_a_cut_stream_does_not_open(data: bytes, cut: int) -> None:
    blob = seal(data)
    cut = min(cut, len(blob) - header_length(blob))
    with pytest.raises(DecryptionError):
        unseal(blob[: len(blob) - cut])


@pytest.mark.parametrize("size", [SMALL, 2 * SMALL, 3 * SMALL + 1])
def test_a_stream_cut_at_a_chunk_boundary_does_not_open(size: int) -> None:
    blob = seal(os.urandom(size))
    start = header_length(blob)
    # Drop the last chunk: what remains ends with a whole chunk sealed as "not the last".
    last = start + ((len(blob) - start - 1) // (SMALL + TAG)) * (SMALL + TAG)
    with pytest.raises(DecryptionError):
        unseal(blob[:last])


def test_swapped_chunks_do_not_open() -> None:
    data = os.urandom(3 * SMALL + 7)
    blob = seal(data)
    start, step = header_length(blob), SMALL + TAG
    first, second = blob[start : start + step], blob[start + step : start + 2 * step]
    swapped = blob[:start] + second + first + blob[start + 2 * step :]
    with (
        ring("a").open_stream(io.BytesIO(swapped), CONTEXT) as reader,
        pytest.raises(DecryptionError),
    ):
        reader.read()


def test_a_chunk_appended_after_the_last_does_not_open() -> None:
    blob = seal(os.urandom(2 * SMALL))
    start = header_length(blob)
    with pytest.raises(DecryptionError):
        unseal(blob + blob[start : start + SMALL + TAG])


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=3 * SMALL), where=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_does_not_open(data: bytes, where: int, bit: int) -> None:
    blob = bytearray(seal(data))
    blob[where % len(blob)] ^= 1 << bit
    with pytest.raises(DecryptionError):
        unseal(bytes(blob))


def test_another_context_does_not_open() -> None:
    blob = seal(b"evidence bytes")
    with pytest.raises(DecryptionError):
        unseal(blob, context="evidence:ffffffffffffffffffffffffffffffff")


def test_a_stream_names_its_key_and_opens_after_rotation() -> None:
    blob = seal(b"x" * 300, keyring=ring("a"))
    assert KeyRing.key_id(blob[:260]) == "a"
    assert unseal(blob, keyring=ring("b", "a")) == b"x" * 300
    with pytest.raises(DecryptionError, match="unknown key id"):
        unseal(blob, keyring=ring("b"))


def test_the_older_one_blob_format_still_opens_through_the_reader() -> None:
    keyring = ring("a")
    blob = keyring.seal(b"old evidence", CONTEXT)
    assert unseal(blob) == b"old evidence"
    with pytest.raises(DecryptionError):
        unseal(blob, context="evidence:other")


def test_the_real_chunk_size_holds_one_mebibyte_per_chunk() -> None:
    data = os.urandom(2 * STREAM_CHUNK + 3)
    out = io.BytesIO()
    writer = ring("a").stream_writer(out, CONTEXT)
    for at in range(0, len(data), 100_000):
        writer.write(data[at : at + 100_000])
        # The writer holds at most one chunk of plaintext: the rest is already sealed out.
        assert len(out.getvalue()) >= at + 100_000 - STREAM_CHUNK
    writer.finish()
    blob = out.getvalue()
    assert len(blob) == header_length(blob) + len(data) + 3 * TAG
    assert unseal(blob) == data


def test_pillow_decodes_an_image_from_the_reader() -> None:
    picture = Image.effect_mandelbrot((300, 200), (-2.0, -1.0, 1.0, 1.0), 50).convert("RGB")
    encoded = io.BytesIO()
    picture.save(encoded, format="PNG")
    blob = seal(encoded.getvalue(), chunk=1000)
    with ring("a").open_stream(io.BytesIO(blob), CONTEXT) as reader:
        img = Image.open(reader, formats=["PNG"])
        img.load()
        assert img.size == (300, 200)
        assert img.tobytes() == picture.tobytes()
