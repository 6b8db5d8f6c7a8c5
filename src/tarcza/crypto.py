"""Encryption at rest (AES-256-GCM with a key ring) and keyed hashes.

A sealed blob is ``b"T1" | len(key_id) | key_id | nonce(12) | ciphertext+tag``.
The key id travels with the blob so that keys can be rotated: new data is
sealed with the current key and old blobs stay readable while their key is
configured. The associated data binds a blob to the record and field it
belongs to, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tarcza.config import Keys

_MAGIC = b"T1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A blob could not be opened: unknown key, wrong context or tampered bytes."""


class KeyRing:
    """Seals and opens blobs with the configured data keys."""

    def __init__(self, keys: Keys) -> None:
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.data_keys.items()}
        self._current = keys.current_key_id
        self._hmac_key = keys.hmac_key

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
        """The id of the key a blob was sealed with (None if it is not a sealed blob)."""
        if blob[:2] != _MAGIC or len(blob) < 3:
            return None
        return blob[3 : 3 + blob[2]].decode(errors="replace")

    def reseal(self, blob: bytes, context: str) -> bytes | None:
        """The blob sealed again with the current key, or None when it already is."""
        if self.key_id(blob) == self._current:
            return None
        return self.seal(self.open(blob, context), context)

    def seal_text(self, text: str, context: str) -> bytes:
        """Encrypt a string (UTF-8)."""
        return self.seal(text.encode("utf-8"), context)

    def open_text(self, blob: bytes, context: str) -> str:
        """Decrypt a string sealed by :meth:`seal_text`."""
        return self.open(blob, context).decode("utf-8")

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 hex of ``value`` for ``purpose``; stable across restarts."""
        msg = purpose.encode() + b"\x00" + value.encode("utf-8")
        return hmac.new(self._hmac_key, msg, hashlib.sha256).hexdigest()

    def verify_keyed_hash(self, purpose: str, value: str, expected: str) -> bool:
        """Constant-time comparison of :meth:`keyed_hash` with ``expected``."""
        return hmac.compare_digest(self.keyed_hash(purpose, value), expected)
