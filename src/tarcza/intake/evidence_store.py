"""Evidence bytes on disk, sealed with the data key; nothing here serves them.

Files are written as sealed streams (:mod:`tarcza.crypto`): chunk by chunk, so that no file is
ever held whole in memory, and never in clear on disk. Files sealed whole (the older format)
stay readable and are resealed as streams.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO

from tarcza.crypto import KeyRing


class EvidenceStore:
    """A folder of sealed evidence files, addressed by random storage keys."""

    def __init__(self, root: Path, keyring: KeyRing) -> None:
        self._root = root
        self._keyring = keyring

    def _path(self, storage_key: str) -> Path:
        if len(storage_key) != 32 or not all(c in "0123456789abcdef" for c in storage_key):
            raise ValueError("not a storage key")
        return self._root / storage_key[:2] / f"{storage_key}.sealed"

    @staticmethod
    def _context(storage_key: str) -> str:
        return f"evidence:{storage_key}"

    def begin(self) -> EvidenceWriter:
        """A new file, written piece by piece; :meth:`EvidenceWriter.finish` makes it durable."""
        storage_key = secrets.token_hex(16)
        path = self._path(storage_key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return EvidenceWriter(self._keyring, path, storage_key, self._context(storage_key))

    def put(self, data: bytes) -> str:
        """Seal and write ``data`` durably (fsync); returns its storage key."""
        writer = self.begin()
        try:
            writer.write(data)
            return writer.finish()
        except BaseException:
            writer.abort()
            raise

    def open(self, storage_key: str) -> BinaryIO:
        """A seekable reader of a stored file's original bytes, decrypted as it is read."""
        source = self._path(storage_key).open("rb")
        return self._keyring.open_stream(source, self._context(storage_key))

    def reseal(self, storage_key: str) -> bool:
        """Seal a file again with the current key (key rotation); False if it already was.

        Streamed through: the file is never held whole in memory.
        """
        path = self._path(storage_key)
        with path.open("rb") as fh:
            head = fh.read(260)
        if self._keyring.key_id(head) == self._keyring.current_key_id:
            return False
        context = self._context(storage_key)
        tmp = path.with_suffix(".tmp")
        with self.open(storage_key) as reader, _durable_file(tmp, exclusive=False) as out:
            writer = self._keyring.stream_writer(out, context)
            while chunk := reader.read(1024 * 1024):
                writer.write(chunk)
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        _commit(tmp, path)
        return True

    def get(self, storage_key: str) -> bytes:
        """The original bytes of a stored file (for staff tools, never the public)."""
        with self.open(storage_key) as reader:
            return reader.read()

    def raw(self, storage_key: str) -> bytes:
        """The sealed bytes as they lie on disk."""
        return self._path(storage_key).read_bytes()

    def delete(self, storage_key: str) -> None:
        """Remove a file (used when the report that owned it was not committed)."""
        self._path(storage_key).unlink(missing_ok=True)


class EvidenceWriter:
    """One evidence file being written: sealed as it comes, durable only when finished.

    Until :meth:`finish` the sealed bytes lie in a temporary file next to the final one;
    :meth:`abort` removes it (or, after :meth:`finish`, the finished file).
    """

    def __init__(self, keyring: KeyRing, path: Path, storage_key: str, context: str) -> None:
        self.storage_key = storage_key
        self._path = path
        self._tmp = path.with_suffix(".tmp")
        self._file: BinaryIO | None = _durable_file(self._tmp, exclusive=True)
        self._sealer = keyring.stream_writer(self._file, context)
        self._done = False

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._sealer.plaintext_bytes

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Seal and write the next piece."""
        if self._file is None:
            raise ValueError("the evidence file is closed")
        self._sealer.write(data)

    def finish(self) -> str:
        """Seal the last piece, fsync, rename into place; returns the storage key."""
        if self._file is None:
            raise ValueError("the evidence file is closed")
        file, self._file = self._file, None
        try:
            self._sealer.finish()
            file.flush()
            os.fsync(file.fileno())
        finally:
            file.close()
        _commit(self._tmp, self._path)
        self._done = True
        return self.storage_key

    def abort(self) -> None:
        """Forget the file: the temporary one, or the finished one."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)
        if self._done:
            self._path.unlink(missing_ok=True)


def _durable_file(tmp: Path, *, exclusive: bool) -> BinaryIO:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(tmp, flags, 0o600)
    return os.fdopen(fd, "wb")


def _commit(tmp: Path, path: Path) -> None:
    """Rename a written (and fsynced) temporary file over ``path``, then fsync the folder."""
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
