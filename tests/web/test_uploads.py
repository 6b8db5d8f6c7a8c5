"""The streaming multipart reader and the upload slots (tarcza.web.uploads)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from tarcza.web.uploads import (
    BATCH_BYTES,
    FieldTooLarge,
    FileTooLarge,
    MultipartForm,
    MultipartInvalid,
    TooManyFields,
    TooManyFiles,
    UploadLimits,
    UploadsBusy,
    UploadSlots,
    read_multipart,
)
from tests.support.loop import run as run_async

BOUNDARY = "----tarcza-test-boundary-7f3a"
LIMITS = UploadLimits(max_files=5, max_fields=5, max_field_bytes=1000, max_file_bytes=10_000)


@dataclass
class MemorySink:
    """A sink that keeps what it was given (tests only: small files)."""

    name: str
    data: bytearray = field(default_factory=bytearray)
    writes: list[int] = field(default_factory=list)
    finished: bool = False
    aborted: bool = False

    def write(self, data: bytes) -> None:
        assert not self.finished and not self.aborted
        self.writes.append(len(data))
        self.data += data

    def finish(self) -> bytes:
        self.finished = True
        return bytes(self.data)

    def abort(self) -> None:
        self.aborted = True


@dataclass
class Sinks:
    made: list[MemorySink] = field(default_factory=list)

    def __call__(self, name: str, index: int, filename: str, content_type: str) -> MemorySink:
        sink = MemorySink(f"{name}[{index}]:{filename}:{content_type}")
        self.made.append(sink)
        return sink


Part = tuple[str, str | None, bytes]  # (name, filename or None for a text field, content)


def encode(parts: Sequence[Part], *, close: bool = True) -> bytes:
    out = bytearray()
    for name, filename, content in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: image/png\r\n"
        out += b"\r\n" + content + b"\r\n"
    if close:
        out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


class Body:
    """An ASGI receive that gives the body in the pieces asked for, and counts what was read."""

    def __init__(self, body: bytes, cuts: Sequence[int] = ()) -> None:
        points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
        self.pieces = [body[a:b] for a, b in itertools.pairwise(points)] or [b""]
        self.given = 0

    async def __call__(self) -> Message:
        piece = self.pieces[self.given]
        self.given += 1
        return {"type": "http.request", "body": piece, "more_body": self.given < len(self.pieces)}

    @property
    def all_read(self) -> bool:
        return self.given == len(self.pieces)


def request_for(body: Body, content_type: str | None = None) -> Request:
    content_type = content_type or f"multipart/form-data; boundary={BOUNDARY}"
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", content_type.encode())],
    }
    return Request(scope, body)


def read(
    body: Body, sinks: Sinks, limits: UploadLimits = LIMITS, content_type: str | None = None
) -> MultipartForm[bytes]:
    async def go() -> MultipartForm[bytes]:
        return await read_multipart(request_for(body, content_type), sinks, limits)

    return run_async(go)


def _decodes(parts: list[Part]) -> bool:
    try:
        for _, filename, content in parts:
            if filename is None:
                content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


names = st.sampled_from(["report", "files", "note", "x"])
# Contents that look like the boundary without being it (a sender never sends the delimiter).
near_boundary = st.sampled_from(
    [f"--{BOUNDARY[:-1]}".encode(), b"\r\n--", f"\r\n-{BOUNDARY}".encode(), b"\r\n\r\n"]
).map(lambda b: b * 3)
contents = st.binary(max_size=3000) | near_boundary
parts_strategy = st.lists(
    st.tuples(names, st.none() | st.sampled_from(["a.png", "b c.jpg", ""]), contents),
    min_size=1,  # a multipart body has at least one part (RFC 2046)
    max_size=5,
).filter(
    lambda parts: (
        sum(f is not None for _, f, _ in parts) <= 5
        and sum(f is None for _, f, _ in parts) <= 5
        and all(len(c) <= 1000 for _, f, c in parts if f is None)
        and _decodes(parts)
    )
)


@settings(max_examples=150, deadline=None)
@given(parts=parts_strategy, cuts=st.lists(st.integers(0, 20_000), max_size=12))
def test_the_parts_are_the_same_wherever_the_body_is_split(
    parts: list[Part], cuts: list[int]
) -> None:
    sinks = Sinks()
    form = read(Body(encode(parts), cuts), sinks)

    seen: dict[str, int] = {}
    expected_texts, expected_files = [], []
    for name, filename, content in parts:
        index = seen.get(name, 0)
        seen[name] = index + 1
        if filename is None:
            expected_texts.append((name, index, content.decode("utf-8")))
        else:
            expected_files.append((name, index, filename, content))
    assert [(t.name, t.index, t.value) for t in form.texts] == expected_texts
    assert [(f.name, f.index, f.filename, f.result) for f in form.files] == expected_files
    assert all(s.finished and not s.aborted for s in sinks.made)


def test_a_large_file_reaches_its_sink_in_batches_never_whole() -> None:
    data = os.urandom(5 * BATCH_BYTES + 123)
    limits = UploadLimits(max_files=1, max_fields=1, max_field_bytes=10, max_file_bytes=len(data))
    body = encode([("files", "big.png", data)])
    sinks = Sinks()
    form = read(Body(body, range(0, len(body), 65536)), sinks, limits)
    (sink,) = sinks.made
    assert form.files[0].result == data and form.files[0].size == len(data)
    assert max(sink.writes) < BATCH_BYTES + 65536
    assert len(sink.writes) >= 5


def test_a_file_over_the_limit_is_refused_naming_it_and_every_sink_is_aborted() -> None:
    parts: list[Part] = [
        ("files", "a.png", b"a" * 100),
        ("report", None, b"{}"),
        ("files", "b.png", b"b" * 10_001),
        ("files", "c.png", b"c" * 100),
    ]
    body = Body(encode(parts), range(0, 20_000, 500))
    sinks = Sinks()
    with pytest.raises(FileTooLarge) as caught:
        read(body, sinks)
    assert caught.value.status_code == 413
    assert caught.value.field == "files[1]"
    assert caught.value.detail == "files[1]: the file is larger than the limit of 10000 bytes."
    assert [t.name for t in caught.value.texts] == ["report"]
    assert sinks.made and all(s.aborted for s in sinks.made)  # the finished files[0] too
    assert body.all_read  # the rest of the body was read (thrown away) before answering


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ([("files", f"{i}.png", b"x") for i in range(6)], TooManyFiles),
        ([(f"f{i}", None, b"x") for i in range(6)], TooManyFields),
        ([("report", None, b"x" * 1001)], FieldTooLarge),
    ],
    ids=["too many files", "too many fields", "field too large"],
)
def test_each_limit_has_its_error(parts: list[Part], error: type[Exception]) -> None:
    sinks = Sinks()
    body = Body(encode(parts), [100, 200])
    with pytest.raises(error):
        read(body, sinks)
    assert all(s.aborted for s in sinks.made)
    assert body.all_read


def test_a_body_without_its_closing_boundary_is_invalid_and_aborts() -> None:
    sinks = Sinks()
    with pytest.raises(MultipartInvalid):
        read(Body(encode([("files", "a.png", b"abc" * 100)], close=False)[:-10]), sinks)
    assert all(s.aborted for s in sinks.made)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"garbage", None),
        (b"--x\r\nno headers end", "multipart/form-data; boundary=x"),
        (b"", "multipart/form-data"),
        (f"--{BOUNDARY}\r\nContent-Type: a\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(), None),
    ],
    ids=["garbage", "cut headers", "no boundary", "no name"],
)
def test_malformed_bodies_are_a_400(body: bytes, content_type: str | None) -> None:
    with pytest.raises(MultipartInvalid) as caught:
        read(Body(body), Sinks(), content_type=content_type)
    assert caught.value.status_code == 400


def test_an_empty_body_is_an_empty_form() -> None:
    form = read(Body(b""), Sinks())
    assert form.texts == [] and form.files == []


def test_a_part_the_factory_declines_is_read_and_thrown_away() -> None:
    def none(name: str, index: int, filename: str, content_type: str) -> None:
        return None

    async def go() -> MultipartForm[bytes]:
        body = Body(encode([("other", "a.png", b"x" * 5000), ("report", None, b"{}")]))
        return await read_multipart(request_for(body), none, LIMITS)

    form = run_async(go)
    assert [(f.name, f.result) for f in form.files] == [("other", None)]
    assert form.text("report") == "{}"


def test_upload_slots_refuse_with_429_after_the_wait() -> None:
    slots = UploadSlots(1, 0.1, retry_after=7)

    async def go() -> None:
        async with slots.hold():
            assert slots.in_use == 1
            with pytest.raises(UploadsBusy) as caught:
                await slots.acquire()
            assert caught.value.status_code == 429
            assert caught.value.headers == {"Retry-After": "7"}
        assert slots.in_use == 0
        async with slots.hold():
            pass

    run_async(go)


def test_a_waiting_upload_gets_the_slot_when_it_comes_free() -> None:
    slots = UploadSlots(2, 5.0)
    running = 0
    peak = 0

    async def upload() -> None:
        nonlocal running, peak
        async with slots.hold():
            running += 1
            peak = max(peak, running)
            await anyio.sleep(0.02)
            running -= 1

    async def go() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(7):
                tasks.start_soon(upload)

    run_async(go)
    assert peak == 2
