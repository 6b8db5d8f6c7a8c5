"""Hash banks — pure: no web, database or network imports.

A bank is a named list of signals (hash values) with a kind (block or allow), a source, sharing
terms and a PDQ threshold. This module says what a valid signal, bank name and label look like
and gives each signal its one canonical spelling (lowercase hex). The exchange file formats are
read and written by :mod:`tarcza.hashing.formats`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tarcza.hashing import vpdq


class SignalType(StrEnum):
    """The kinds of hash a bank holds."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    PDQ = "pdq"
    VPDQ = "vpdq"


class BankKind(StrEnum):
    """A block bank's matches are acted on; an allow bank's matches suppress them."""

    BLOCK = "block"
    ALLOW = "allow"


DEFAULT_PDQ_THRESHOLD: Final = 31
MAX_PDQ_THRESHOLD: Final = 64
MAX_BANK_NAME: Final = 100
MAX_LABEL: Final = 200
MAX_SOURCE: Final = 200
MAX_TERMS: Final = 2000
#: Length at which a signal is looked up by its SHA-256 instead of verbatim (only vPDQ is longer).
LOOKUP_KEY_LENGTH: Final = 64

_HEX_LENGTH: Final = {
    SignalType.MD5: 32,
    SignalType.SHA1: 40,
    SignalType.SHA256: 64,
    SignalType.PDQ: 64,
}
# Names other tools give the same signal types (python-threatexchange, HMA, spreadsheets).
_ALIASES: Final = {
    "video_md5": SignalType.MD5,
    "photo_md5": SignalType.MD5,
    "video_sha256": SignalType.SHA256,
    "sha-256": SignalType.SHA256,
    "sha-1": SignalType.SHA1,
    "pdq_hash": SignalType.PDQ,
    "video_vpdq": SignalType.VPDQ,
}
_BANK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InvalidSignal(ValueError):
    """A value is not a valid signal (or bank name, or label): ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, order=True)
class Entry:
    """One signal as read from or written to a file."""

    signal_type: SignalType
    value: str
    label: str | None = None


# -- values ---------------------------------------------------------------------------------


def parse_signal_type(name: str) -> SignalType:
    """The signal type called ``name`` (case-insensitive; common aliases accepted)."""
    key = name.strip().lower()
    try:
        return SignalType(key)
    except ValueError:
        pass
    if key in _ALIASES:
        return _ALIASES[key]
    known = ", ".join(t.value for t in SignalType)
    raise InvalidSignal("unknown_signal_type", f"unknown signal type (known: {known})")


def normalise_signal(signal_type: SignalType, value: str) -> str:
    """The canonical spelling of ``value``: lowercase hex of the right length.

    vPDQ signals are python-threatexchange's JSON list of ``"pdq_hex,quality,timestamp"``
    frame strings; they are re-serialised compactly with lowercase hex.
    """
    if signal_type is SignalType.VPDQ:
        return _normalise_vpdq(value)
    hex_value = value.strip().lower()
    length = _HEX_LENGTH[signal_type]
    if len(hex_value) != length or not _is_hex(hex_value):
        raise InvalidSignal(
            f"invalid_{signal_type.value}",
            f"a {signal_type.value} signal is {length} hexadecimal characters",
        )
    return hex_value


def hex_length(signal_type: SignalType) -> int | None:
    """How many hex digits a signal of this type is, or None when it is not plain hex."""
    return _HEX_LENGTH.get(signal_type)


def is_hex(value: str) -> bool:
    """Whether ``value`` is only hexadecimal digits, two a byte."""
    return _is_hex(value)


def _is_hex(value: str) -> bool:
    """Whether ``value`` is only hexadecimal digits, two a byte (faster than a regex)."""
    try:
        # fromhex skips whitespace, so a value with any decodes to fewer bytes.
        return len(bytes.fromhex(value)) * 2 == len(value)
    except ValueError:
        return False


def _normalise_vpdq(value: str) -> str:
    try:
        return vpdq.to_signal(vpdq.parse_signal(value))
    except vpdq.InvalidVpdq as exc:
        raise InvalidSignal(
            "invalid_vpdq",
            f'a vpdq signal is a JSON list of "pdq_hex,quality,timestamp" strings: {exc.message}',
        ) from None


def lookup_key(value: str) -> str:
    """The indexed key of a canonical signal: itself, or its SHA-256 when longer than 64."""
    if len(value) <= LOOKUP_KEY_LENGTH:
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def _check_text(value: str, max_length: int, what: str) -> str:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidSignal("control_character", f"the {what} contains a control character")
    stripped = value.strip()
    if len(stripped) > max_length:
        raise InvalidSignal("too_long", f"the {what} is longer than {max_length} characters")
    return stripped


def check_label(label: str | None) -> str | None:
    """A label as stored: trimmed, at most 200 characters, no control characters; "" is None."""
    if label is None:
        return None
    return _check_text(label, MAX_LABEL, "label") or None


def check_bank_name(name: str) -> str:
    """A bank name: letters, digits, ``_ . -``, starting with a letter or digit, ≤ 100."""
    name = name.strip()
    if not name or len(name) > MAX_BANK_NAME or not _BANK_NAME.fullmatch(name):
        raise InvalidSignal(
            "invalid_bank_name",
            "a bank name is 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
        )
    return name


def check_source(source: str) -> str:
    """Where a bank's signals come from (free text, ≤ 200 characters)."""
    return _check_text(source, MAX_SOURCE, "source")


def check_terms(terms: str) -> str:
    """The sharing terms of a bank (free text, ≤ 2000 characters)."""
    return _check_text(terms, MAX_TERMS, "terms")


def check_threshold(threshold: int) -> int:
    """A PDQ match threshold: a Hamming distance from 0 to 64."""
    if isinstance(threshold, bool) or not 0 <= threshold <= MAX_PDQ_THRESHOLD:
        raise InvalidSignal(
            "invalid_threshold", f"the PDQ threshold is a distance from 0 to {MAX_PDQ_THRESHOLD}"
        )
    return threshold


def check_vpdq_pct(value: float) -> float:
    """A vPDQ match threshold: the share of frames (percent, 0 to 100) that must match."""
    try:
        return vpdq.check_match_pct(value)
    except vpdq.InvalidVpdq:
        raise InvalidSignal(
            "invalid_vpdq_threshold", "a vPDQ match threshold is a percentage from 0 to 100"
        ) from None


def make_entry(signal_type: str, value: str, label: str | None = None) -> Entry:
    """A validated, canonical entry (raises InvalidSignal)."""
    kind = parse_signal_type(signal_type)
    return Entry(kind, normalise_signal(kind, value), check_label(label))
