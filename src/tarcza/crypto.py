"""Encryption at rest (AES-256-GCM with a key ring) and keyed hashes.

A sealed blob is ``b"T1" | len(key_id) | key_id | nonce(12) | ciphertext+tag``.

A sealed stream (large files, written and read chunk by chunk) is
``b"T2" | len(key_id) | key_id | nonce_prefix(7) | chunk_size(4, big-endian)`` followed by
chunks of ``ciphertext+tag``, each of ``chunk_size`` plaintext bytes but the last (the STREAM
construction): chunk i is sealed under the nonce ``nonce_prefix | i (4 bytes) | last (1 byte)``
with the header and the context as associated data. A chunk moved, dropped, cut or appended,
another header or another context make a chunk fail to open.
The key id travels with the blob so that keys can be rotated: new data is
sealed with the current key and old blobs stay readable while their key is
configured. The associated data binds a blob to the record and field it
belongs to, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
from typing import BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tarcza.config import Keys

_MAGIC = b"T1"
_NONCE_BYTES = 12
_STREAM_MAGIC = b"T2"
_PREFIX_BYTES = 7
_TAG_BYTES = 16
#: Plaintext bytes per chunk of a sealed stream.
STREAM_CHUNK = 1024 * 1024
_MAX_CHUNK = 64 * 1024 * 1024
#: Keyed hashes: how many purposes' keyed states are kept (then they are made again).
_HMAC_STARTS_KEPT = 64


class DecryptionError(Exception):
    """A blob could not be opened: unknown key, wrong context or tampered bytes."""


class KeyRing:
    """Seals and opens blobs with the configured data keys."""

    def __init__(self, keys: Keys) -> None:
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.data_keys.items()}
        self._current = keys.current_key_id
        self._hmac_key = keys.hmac_key
        self._hmac_starts: dict[str, hmac.HMAC] = {}

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` with the current key."""
        kid = self._current.encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, context.encode())
        return _MAGIC + bytes([len(kid)]) + kid + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob made by :meth:`seal` with the same ``context``."""
        if blob[:2] != _MAGIC or len(blob) < 3:
            raise DecryptionError("not a sealed blob")
        kid_len = blob[2]
        kid = blob[3 : 3 + kid_len].decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        start = 3 + kid_len
        nonce, body = blob[start : start + _NONCE_BYTES], blob[start + _NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, body, context.encode())
        except InvalidTag as exc:
            raise DecryptionError("blob does not open in this context") from exc

    @property
    def current_key_id(self) -> str:
        """The id of the key new blobs are sealed with."""
        return self._current

    @staticmethod
    def key_id(blob: bytes) -> str | None:
        """The id of the key a blob or a stream (its first bytes suffice) was sealed with.

        None if it is neither.
        """
        if blob[:2] not in (_MAGIC, _STREAM_MAGIC) or len(blob) < 3:
            return None
        return blob[3 : 3 + blob[2]].decode(errors="replace")

    def reseal(self, blob: bytes, context: str) -> bytes | None:
        """The blob sealed again with the current key, or None when it already is."""
        if self.key_id(blob) == self._current:
            return None
        return self.seal(self.open(blob, context), context)

    def stream_writer(
        self, out: BinaryIO, context: str, *, chunk_size: int = STREAM_CHUNK
    ) -> SealedWriter:
        """A writer that seals what it is given onto ``out`` as a sealed stream."""
        return SealedWriter(self._ciphers[self._current], self._current, out, context, chunk_size)

    def open_stream(self, source: BinaryIO, context: str) -> BinaryIO:
        """A seekable reader of the plaintext of ``source`` (a sealed stream or a sealed blob).

        A sealed stream is decrypted chunk by chunk as it is read; its last chunk is opened
        at once, so a cut stream fails here. A blob (the older format) is opened whole.
        """
        head = source.read(3)
        source.seek(0)
        if head[:2] == _STREAM_MAGIC and len(head) == 3:
            try:
                return cast(BinaryIO, SealedReader(self._ciphers, source, context))
            except BaseException:
                source.close()
                raise
        with source:
            blob = source.read()
        return io.BytesIO(self.open(blob, context))

    def seal_text(self, text: str, context: str) -> bytes:
        """Encrypt a string (UTF-8)."""
        return self.seal(text.encode("utf-8"), context)

    def open_text(self, blob: bytes, context: str) -> str:
        """Decrypt a string sealed by :meth:`seal_text`."""
        return self.open(blob, context).decode("utf-8")

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 hex of ``value`` for ``purpose``; stable across restarts."""
        # HMAC(key, purpose | 0 | value), continued from the purpose's keyed state: the key
        # schedule is paid once per purpose, not on every hash.
        start = self._hmac_starts.get(purpose)
        if start is None:
            if len(self._hmac_starts) >= _HMAC_STARTS_KEPT:  # a purpose a day (the access log)
                self._hmac_starts.clear()
            start = hmac.new(self._hmac_key, purpose.encode() + b"\x00", hashlib.sha256)
            self._hmac_starts[purpose] = start
        mac = start.copy()
        mac.update(value.encode("utf-8"))
        return mac.hexdigest()

    def verify_keyed_hash(self, purpose: str, value: str, expected: str) -> bool:
        """Constant-time comparison of :meth:`keyed_hash` with ``expected``."""
        return hmac.compare_digest(self.keyed_hash(purpose, value), expected)


def _chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 1 << 32:
        raise DecryptionError("the stream has too many chunks")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class SealedWriter:
    """Seals a stream chunk by chunk onto a binary file; :meth:`finish` seals the last chunk.

    At most one chunk of plaintext is held at a time. Nothing is written in clear.
    """

    def __init__(
        self, cipher: AESGCM, key_id: str, out: BinaryIO, context: str, chunk_size: int
    ) -> None:
        if not 1 <= chunk_size < 1 << 32:
            raise ValueError("chunk_size must be between 1 and 2**32 - 1")
        kid = key_id.encode()
        prefix = secrets.token_bytes(_PREFIX_BYTES)
        self._header = (
            _STREAM_MAGIC + bytes([len(kid)]) + kid + prefix + struct.pack(">I", chunk_size)
        )
        self._aad = self._header + context.encode()
        self._cipher, self._prefix, self._out, self._chunk = cipher, prefix, out, chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._finished = False
        self.plaintext_bytes = 0
        out.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add plaintext; every full chunk but the newest is sealed and written."""
        if self._finished:
            raise ValueError("the stream is finished")
        self._buffer += data
        self.plaintext_bytes += len(data)
        # The newest full chunk waits: only finish() knows whether it is the last one.
        while len(self._buffer) > self._chunk:
            self._emit(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]

    def finish(self) -> None:
        """Seal the last chunk (possibly empty, for an empty stream); nothing may follow."""
        if self._finished:
            raise ValueError("the stream is finished")
        self._emit(bytes(self._buffer), last=True)
        self._buffer = bytearray()
        self._finished = True

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        nonce = _chunk_nonce(self._prefix, self._index, last)
        self._out.write(self._cipher.encrypt(nonce, plaintext, self._aad))
        self._index += 1


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed stream, decrypted one chunk at a time (seekable).

    The last chunk is opened when the reader is made, so the plaintext size is known and
    authenticated; every other chunk is opened (and checked) when it is first read.
    """

    def __init__(self, ciphers: dict[str, AESGCM], source: BinaryIO, context: str) -> None:
        super().__init__()
        self._source = source
        fixed = source.read(3)
        if len(fixed) < 3 or fixed[:2] != _STREAM_MAGIC:
            raise DecryptionError("not a sealed stream")
        kid_bytes = source.read(fixed[2])
        rest = source.read(_PREFIX_BYTES + 4)
        if len(kid_bytes) != fixed[2] or len(rest) != _PREFIX_BYTES + 4:
            raise DecryptionError("the sealed stream's header is cut")
        kid = kid_bytes.decode(errors="replace")
        cipher = ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        header = fixed + kid_bytes + rest
        self._cipher, self._aad = cipher, header + context.encode()
        self._prefix = rest[:_PREFIX_BYTES]
        self._chunk: int = struct.unpack(">I", rest[_PREFIX_BYTES:])[0]
        if not 0 < self._chunk <= _MAX_CHUNK:
            raise DecryptionError("the sealed stream's header is damaged")
        self._start = len(header)
        body = source.seek(0, os.SEEK_END) - self._start
        sealed_chunk = self._chunk + _TAG_BYTES
        # Every chunk but the last is full; the last holds 0..chunk bytes (0 only if alone).
        self._count = max(1, -(-body // sealed_chunk))
        last_sealed = body - (self._count - 1) * sealed_chunk
        if last_sealed < _TAG_BYTES:
            raise DecryptionError("the sealed stream is cut")
        self._size: int = (self._count - 1) * self._chunk + last_sealed - _TAG_BYTES
        self._pos = 0
        self._cached_index = -1
        self._cached = b""
        self._load(self._count - 1)

    def _load(self, index: int) -> bytes:
        if index != self._cached_index:
            last = index == self._count - 1
            sealed_chunk = self._chunk + _TAG_BYTES
            self._source.seek(self._start + index * sealed_chunk)
            sealed = self._source.read(sealed_chunk)
            try:
                self._cached = self._cipher.decrypt(
                    _chunk_nonce(self._prefix, index, last), sealed, self._aad
                )
            except InvalidTag as exc:
                raise DecryptionError("a chunk does not open in this context") from exc
            self._cached_index = index
        return self._cached

    @property
    def size(self) -> int:
        """The plaintext size in bytes."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed reader")
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        parts = []
        while self._pos < end:
            index, offset = divmod(self._pos, self._chunk)
            plain = self._load(index)
            piece = plain[offset : offset + (end - self._pos)]
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
            self._cached = b""
        super().close()
