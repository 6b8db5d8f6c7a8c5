"""Streaming multipart uploads: files go to the caller's sinks as they arrive, never whole.

:func:`read_multipart` parses ``multipart/form-data`` from ``request.stream()`` with
python-multipart's push parser. Small text fields are collected (with a size limit each and a
limit on their number); each file part is streamed to a sink that the caller's factory makes
(the intake's seals it into evidence storage while digesting it), in batches of about
:data:`BATCH_BYTES`, each handed to a worker thread so that the CPU work (digests, sealing)
stays off the event loop. No file is ever held whole in memory, and nothing is written to disk
here. On any failure every sink is aborted, finished ones too, so nothing is left behind.

A limit passed (too many files or fields, a field or a file too large) is answered only once
the rest of the body has been read (and thrown away, up to the body limit): a client still
sending would otherwise see its connection reset instead of the answer.

:class:`UploadSlots` caps how many multipart bodies a process reads at once (each streamed into
its sinks; decoding afterwards is bounded by the decode pixel budget).
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import anyio
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: File bytes handed to a sink per worker-thread hop.
BATCH_BYTES = 1024 * 1024


class FileSink(Protocol[T_co]):
    """Where one file part's bytes go; made by the caller's factory for each file part."""

    def write(self, data: bytes) -> None:
        """The next bytes of the file (called in a worker thread)."""

    def finish(self) -> T_co:
        """The file is complete: make it durable and return what the caller keeps."""

    def abort(self) -> None:
        """Forget the file, finished or not (the request failed)."""


# (part name, index among the parts of that name, file name, content type) -> a sink, or None
# to read the part and throw its bytes away.
SinkFactory = Callable[[str, int, str, str], FileSink[T] | None]


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on a multipart body's parts (the body as a whole is bounded by BodyLimit)."""

    max_files: int
    max_fields: int
    max_field_bytes: int
    max_file_bytes: int


@dataclass(frozen=True)
class TextPart:
    name: str
    index: int  # among the parts (text or file) of the same name
    value: str


@dataclass(frozen=True)
class FilePart(Generic[T]):
    name: str
    index: int  # among the parts (text or file) of the same name
    filename: str
    content_type: str
    size: int
    result: T | None  # what the sink's finish() returned; None when the factory gave no sink


@dataclass
class MultipartForm(Generic[T]):
    """The parts of a multipart body, in order of arrival by kind."""

    texts: list[TextPart] = field(default_factory=list)
    files: list[FilePart[T]] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        """The first text value named ``name``."""
        return next((t.value for t in self.texts if t.name == name), None)

    def names(self) -> set[str]:
        return {t.name for t in self.texts} | {f.name for f in self.files}


class LimitPassed(HTTPException):
    """A limit on the parts was passed; ``texts`` holds the text parts read before it."""

    texts: list[TextPart]

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail)
        self.texts = []


class MultipartInvalid(HTTPException):
    """The body is not well-formed multipart (400)."""

    def __init__(self, detail: str = "Invalid multipart data.") -> None:
        super().__init__(400, detail)


class TooManyFiles(LimitPassed):
    """More file parts than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__(400, f"Too many files. Maximum number of files is {limit}.")
        self.limit = limit


class TooManyFields(LimitPassed):
    """More text parts than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__(400, f"Too many fields. Maximum number of fields is {limit}.")
        self.limit = limit


class FieldTooLarge(LimitPassed):
    """A text part larger than ``limit`` bytes (413)."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(413, f"{name}: the field is larger than the limit of {limit} bytes.")
        self.name, self.limit = name, limit


class FileTooLarge(LimitPassed):
    """A file part larger than ``limit`` bytes (413 naming it, e.g. ``files[2]``)."""

    def __init__(self, name: str, index: int, limit: int) -> None:
        self.field = f"{name}[{index}]"
        super().__init__(413, f"{self.field}: the file is larger than the limit of {limit} bytes.")
        self.name, self.index, self.limit = name, index, limit


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing (the reason is kept aside)."""


@dataclass
class _Part(Generic[T]):
    name: str = ""
    index: int = 0
    filename: str | None = None
    content_type: str = ""
    size: int = 0
    text: bytearray = field(default_factory=bytearray)
    sink: FileSink[T] | None = None
    wanted: bool = True  # False when the factory gave no sink: the bytes are thrown away
    buffer: bytearray = field(default_factory=bytearray)
    result: T | None = None


def _decode(value: bytes, charset: str) -> str:
    try:
        return value.decode(charset)
    except UnicodeDecodeError:
        return value.decode("latin-1")


class _Reader(Generic[T]):
    def __init__(self, factory: SinkFactory[T], limits: UploadLimits, charset: str) -> None:
        self.factory, self.limits, self.charset = factory, limits, charset
        self.part: _Part[T] = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.part_content_type = b""
        self.seen: dict[str, int] = {}
        self.files = 0
        self.fields = 0
        self.ended = False
        self.problem: LimitPassed | None = None
        self.form: MultipartForm[T] = MultipartForm()
        self.file_parts: list[_Part[T]] = []  # every file part, for abort
        self.ops: list[Callable[[], None]] = []  # work for the next thread hop, in order

    # -- parser callbacks (on the event loop: no I/O, no heavy CPU) --

    def stop(self, problem: HTTPException) -> None:
        if isinstance(problem, LimitPassed):
            self.problem = problem
            problem.texts = self.form.texts
            raise _Stop()
        raise problem

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.disposition = b""
        self.part_content_type = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = bytes(self.header_name).lower()
        if name == b"content-disposition":
            self.disposition = bytes(self.header_value)
        elif name == b"content-type":
            self.part_content_type = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            self.stop(
                MultipartInvalid('The Content-Disposition header field "name" must be provided.')
            )
        part = self.part
        part.name = _decode(options[b"name"], self.charset)
        part.index = self.seen.get(part.name, 0)
        self.seen[part.name] = part.index + 1
        if b"filename" not in options:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                self.stop(TooManyFields(self.limits.max_fields))
            return
        self.files += 1
        if self.files > self.limits.max_files:
            self.stop(TooManyFiles(self.limits.max_files))
        part.filename = _decode(options[b"filename"], self.charset)
        part.content_type = self.part_content_type.decode("latin-1").strip()
        self.file_parts.append(part)
        self.ops.append(lambda: self._open(part))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        size = end - start
        part.size += size
        if part.filename is None:
            if part.size > self.limits.max_field_bytes:
                self.stop(FieldTooLarge(part.name, self.limits.max_field_bytes))
            part.text += data[start:end]
            return
        if part.size > self.limits.max_file_bytes:
            self.stop(FileTooLarge(part.name, part.index, self.limits.max_file_bytes))
        if not part.wanted:
            return
        part.buffer += data[start:end]
        if len(part.buffer) >= BATCH_BYTES:
            self._queue_write(part)

    def on_part_end(self) -> None:
        part = self.part
        if part.filename is None:
            self.form.texts.append(
                TextPart(part.name, part.index, _decode(bytes(part.text), self.charset))
            )
            return
        if part.buffer:
            self._queue_write(part)
        self.ops.append(lambda: self._finish(part))

    def on_end(self) -> None:
        self.ended = True

    def _queue_write(self, part: _Part[T]) -> None:
        batch = bytes(part.buffer)
        part.buffer.clear()
        self.ops.append(lambda: self._write(part, batch))

    # -- thread work --

    def _open(self, part: _Part[T]) -> None:
        assert part.filename is not None
        part.sink = self.factory(part.name, part.index, part.filename, part.content_type)
        part.wanted = part.sink is not None

    @staticmethod
    def _write(part: _Part[T], batch: bytes) -> None:
        if part.sink is not None:
            part.sink.write(batch)

    def _finish(self, part: _Part[T]) -> None:
        assert part.filename is not None
        if part.sink is not None:
            part.result = part.sink.finish()
        self.form.files.append(
            FilePart(
                part.name, part.index, part.filename, part.content_type, part.size, part.result
            )
        )

    def run_ops(self) -> None:
        ops, self.ops = self.ops, []
        for op in ops:
            op()

    def abort_all(self) -> None:
        self.ops = []
        for part in self.file_parts:
            if part.sink is not None:
                part.sink.abort()


async def read_multipart(
    request: Request, factory: SinkFactory[T], limits: UploadLimits
) -> MultipartForm[T]:
    """Read a ``multipart/form-data`` body, streaming each file part to a sink.

    Raises MultipartInvalid (400), TooManyFiles, TooManyFields (400 by default: callers may
    answer otherwise), FieldTooLarge or FileTooLarge (413); every sink is aborted then.
    """
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise MultipartInvalid("Missing boundary in multipart.")
    charset_raw = params.get(b"charset", b"utf-8")
    try:
        charset = codecs.lookup(charset_raw.decode("latin-1")).name
    except LookupError:
        charset = "latin-1"
    reader: _Reader[T] = _Reader(factory, limits, charset)
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": reader.on_part_begin,
                "on_part_data": reader.on_part_data,
                "on_part_end": reader.on_part_end,
                "on_header_field": reader.on_header_field,
                "on_header_value": reader.on_header_value,
                "on_header_end": reader.on_header_end,
                "on_headers_finished": reader.on_headers_finished,
                "on_end": reader.on_end,
            },
        )
    except FormParserError:
        raise MultipartInvalid() from None
    received = 0
    stream = request.stream()
    try:
        async for chunk in stream:
            received += len(chunk)
            try:
                parser.write(chunk)
            except _Stop:
                break
            except FormParserError:
                raise MultipartInvalid() from None
            if reader.ops:
                await anyio.to_thread.run_sync(reader.run_ops)
        if reader.problem is not None:
            async for _ in stream:  # the rest is read and thrown away (see the module's doc)
                pass
            raise reader.problem
        parser.finalize()
        if received and not reader.ended:
            raise MultipartInvalid("The multipart body ends before its closing boundary.")
        if reader.ops:
            await anyio.to_thread.run_sync(reader.run_ops)
        return reader.form
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(reader.abort_all)
        raise


class UploadsBusy(HTTPException):
    """Every upload slot stayed taken for the whole wait (429 with Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            f"Too many uploads are being received; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


class UploadSlots:
    """At most ``slots`` multipart bodies read at once in this process.

    A request waits up to ``wait_seconds`` for a slot, then is refused (UploadsBusy).
    """

    def __init__(self, slots: int, wait_seconds: float, *, retry_after: int = 30) -> None:
        if slots < 1:
            raise ValueError("at least one upload slot")
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self._semaphore = anyio.Semaphore(slots)

    @property
    def in_use(self) -> int:
        return self.slots - self._semaphore.value

    async def acquire(self) -> None:
        """Take a slot, waiting at most ``wait_seconds``; UploadsBusy if none came free."""
        with anyio.move_on_after(self.wait_seconds):
            await self._semaphore.acquire()
            return
        raise UploadsBusy(self.retry_after)

    def release(self) -> None:
        self._semaphore.release()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """A slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


def upload_slots(request: Request) -> UploadSlots:
    """The application's upload slots (set by the composition root on ``app.state``)."""
    slots: UploadSlots = request.app.state.upload_slots
    return slots
