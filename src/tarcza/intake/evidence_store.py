"""Evidence bytes on disk, sealed with the data key; nothing here serves them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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

    def put(self, data: bytes) -> str:
        """Seal and write ``data`` durably (fsync); returns its storage key."""
        storage_key = secrets.token_hex(16)
        path = self._path(storage_key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_durably(path, self._keyring.seal(data, self._context(storage_key)), exclusive=True)
        return storage_key

    def reseal(self, storage_key: str) -> bool:
        """Seal a file again with the current key (key rotation); False if it already was."""
        path = self._path(storage_key)
        resealed = self._keyring.reseal(path.read_bytes(), self._context(storage_key))
        if resealed is None:
            return False
        _write_durably(path, resealed, exclusive=False)
        return True

    def get(self, storage_key: str) -> bytes:
        """The original bytes of a stored file (for staff tools, never the public)."""
        return self._keyring.open(self._path(storage_key).read_bytes(), self._context(storage_key))

    def raw(self, storage_key: str) -> bytes:
        """The sealed bytes as they lie on disk."""
        return self._path(storage_key).read_bytes()

    def delete(self, storage_key: str) -> None:
        """Remove a file (used when the report that owned it was not committed)."""
        self._path(storage_key).unlink(missing_ok=True)


def _write_durably(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write through a temporary file, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.with_suffix(".tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
