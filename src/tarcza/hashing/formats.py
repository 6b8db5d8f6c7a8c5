"""Bank exchange files — pure: no web, database or network imports.

Three formats are read and written:

* ``csv``  — ``signal_type,signal,label`` with an optional header row;
* ``te``   — the plain text python-threatexchange's local-file exchange reads: one signal a
  line, either ``<signal_type> <signal>`` (written with python-threatexchange's names:
  ``video_md5``, ``video_sha256``, ``pdq``, ``vpdq``) or a bare signal of a type the caller
  names (never guessed). Lines of types tarcza does not hold (``url``, ``raw_text``,
  ``trend_query`` … of a full dataset dump) are skipped and counted, and anything after the
  signal on a line (``threatexchange dataset -P`` adds the collaboration and category) is
  ignored;
* ``vics`` — Project VIC's VICS JSON (OData: ``value`` is a list of Media, or of Cases that
  hold Media), whose items carry ``MD5``, ``SHA1`` and a ``Category`` (an integer, or as
  exports also write it, ``"1"`` or ``1.0``). Items with only hashes tarcza cannot match
  (``PhotoDNA``, ``AlternativeHashes``) are skipped and counted.

Parsers never stop at the first bad line: they report every one (up to a cap) with its line
number, so that a whole file can be corrected at once and nothing is half-imported. What a
format holds that tarcza cannot match is never an error: ``ParseResult.skipped`` counts it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from tarcza.hashing.banks import (
    Entry,
    InvalidSignal,
    SignalType,
    hex_length,
    is_hex,
    make_entry,
    normalise_signal,
    parse_signal_type,
)

#: How many bad lines a parse result lists; the total is always counted.
MAX_REPORTED_ERRORS: Final = 100
VICS_CONTEXT: Final = (
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"
)
VICS_LABEL_PREFIX: Final = "vics:"
#: python-threatexchange's name of each signal type (SignalType.get_name()); SHA-1 has none.
TE_NAMES: Final = {
    SignalType.MD5: "video_md5",
    SignalType.SHA1: "sha1",
    SignalType.SHA256: "video_sha256",
    SignalType.PDQ: "pdq",
    SignalType.VPDQ: "vpdq",
}
#: VICS Media keys of hashes tarcza cannot match: an item with only these is skipped.
VICS_UNMATCHABLE: Final = ("PhotoDNA", "AlternativeHashes")
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ExchangeFormat(StrEnum):
    """The file formats a bank is imported from and exported to."""

    CSV = "csv"
    TE = "te"
    VICS = "vics"


@dataclass(frozen=True)
class LineError:
    """A malformed line: ``line`` is 1-based (None where JSON gives no line), ``where`` names
    the item or column, ``code`` is stable for programs and ``message`` is for people."""

    line: int | None
    code: str
    message: str
    where: str = ""


@dataclass(frozen=True)
class ParseResult:
    """What a file holds: its valid entries (duplicates folded) and its errors."""

    entries: tuple[Entry, ...]
    errors: tuple[LineError, ...] = ()
    error_count: int = 0
    duplicates: int = 0
    #: (what, how many) of the items skipped because tarcza cannot match them, by name.
    skipped: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        return self.error_count == 0


# -- collecting results ---------------------------------------------------------------------


@dataclass
class _Collector:
    entries: dict[tuple[SignalType, str], Entry] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    def add(self, entry: Entry) -> None:
        key = (entry.signal_type, entry.value)
        if key in self.entries:
            self.duplicates += 1  # the first spelling in the file wins
            return
        self.entries[key] = entry

    def error(self, line: int | None, code: str, message: str, where: str = "") -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(LineError(line, code, message, where))

    def result(self) -> ParseResult:
        return ParseResult(
            entries=tuple(self.entries.values()),
            errors=tuple(self.errors),
            error_count=self.error_count,
            duplicates=self.duplicates,
            skipped=tuple(sorted(self.skipped.items())),
        )


# -- CSV ------------------------------------------------------------------------------------


def parse_csv(text: str) -> ParseResult:
    """Read ``signal_type,signal[,label]`` rows; a first row naming the columns is skipped."""
    out = _Collector()
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    first = True
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.error(reader.line_num, "malformed_csv", f"the line is not valid CSV: {exc}")
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].startswith("#"):
            continue
        is_header = first and row[0].strip().lower() == "signal_type"
        first = False
        if is_header:
            continue
        if len(row) not in (2, 3):
            out.error(line, "wrong_columns", "expected signal_type,signal[,label]")
            continue
        try:
            out.add(make_entry(row[0], row[1], row[2] if len(row) == 3 else None))
        except InvalidSignal as exc:
            out.error(line, exc.code, exc.message)
    return out.result()


def to_csv(entries: Iterable[Entry]) -> str:
    """Write entries as CSV with a header row, sorted for stable diffs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["signal_type", "signal", "label"])
    for entry in sorted(entries):
        writer.writerow([entry.signal_type.value, entry.value, entry.label or ""])
    return buffer.getvalue()


# -- python-threatexchange's plain text -----------------------------------------------------


def parse_te(text: str, bare_type: SignalType | None = None) -> ParseResult:
    """Read one signal a line: ``<type> <signal> [metadata]``, or a bare ``<signal>``.

    A bare signal is of ``bare_type``; without one it is an error (``untyped_signal``), never
    a guess. A line of a type tarcza does not hold is skipped and counted under its type.
    Blank lines and lines starting with ``#`` are skipped. The file carries no labels.
    """
    out = _Collector()
    # Bare lines of a plain hex type are checked here at once: a file of a million of them.
    length = hex_length(bare_type) if bare_type is not None else None
    entries = out.entries
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if length is not None and bare_type is not None:
            value = raw.strip().lower()
            if len(value) == length and is_hex(value):  # what normalise_signal would give
                if (bare_type, value) in entries:
                    out.duplicates += 1
                else:
                    entries[(bare_type, value)] = Entry(bare_type, value)
                continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first, _, rest = line.partition(" ")
        try:
            if rest.strip():
                _read_te_typed(first, rest.strip(), out)
            elif bare_type is None:
                message = "a signal without its type: name the type of bare lines (--type)"
                out.error(number, "untyped_signal", message)
            else:
                out.add(Entry(bare_type, normalise_signal(bare_type, first)))
        except InvalidSignal as exc:
            out.error(number, exc.code, exc.message)
    return out.result()


def _read_te_typed(name: str, rest: str, out: _Collector) -> None:
    try:
        kind = parse_signal_type(name)
    except InvalidSignal:
        if not _TYPE_NAME.fullmatch(name.lower()):
            raise
        out.skip(name.lower())  # url, raw_text, trend_query …: not a hash tarcza matches
        return
    if kind is SignalType.VPDQ:
        end = rest.rfind("]")
        signal = rest[: end + 1] if rest.startswith("[") and end > 0 else rest
    else:
        signal = rest.split()[0]  # what follows is the dump's collaboration and category
    out.add(Entry(kind, normalise_signal(kind, signal)))


def to_te(entries: Iterable[Entry], bare_type: SignalType | None = None) -> str:
    """Write ``<type> <signal>`` lines with python-threatexchange's type names, or only the
    bare signals of ``bare_type``."""
    lines = []
    for entry in sorted(entries):
        if bare_type is None:
            lines.append(f"{TE_NAMES[entry.signal_type]} {entry.value}")
        elif entry.signal_type is bare_type:
            lines.append(entry.value)
    return "".join(line + "\n" for line in lines)


# -- Project VIC VICS JSON ------------------------------------------------------------------


def vics_label(category: object) -> str | None:
    """The label that keeps a VICS ``Category`` (an integer, or null for uncategorised)."""
    if category is None:
        return None
    return f"{VICS_LABEL_PREFIX}{category}"


def vics_category(label: str | None) -> int | None:
    """The VICS ``Category`` a label stands for, or None when it is not a VICS label."""
    if label is None or not label.startswith(VICS_LABEL_PREFIX):
        return None
    number = label.removeprefix(VICS_LABEL_PREFIX)
    return int(number) if number.isascii() and number.isdigit() else None


def _vics_media(document: Any, out: _Collector) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each Media item with its path, from a list of Media or of Cases holding Media."""
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        out.error(1, "not_vics", 'a VICS file is a JSON object whose "value" is a list', "value")
        return
    for i, item in enumerate(document["value"]):
        if isinstance(item, dict) and isinstance(item.get("Media"), list):
            for j, media in enumerate(item["Media"]):
                yield f"value[{i}].Media[{j}]", media
        else:
            yield f"value[{i}]", item


def _vics_category(value: object) -> int | None:
    """A ``Category`` as an integer: 1, "1" and 1.0 alike; ValueError when not a whole number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(value)
    return number


def _read_vics_item(where: str, media: Any, out: _Collector) -> None:
    if not isinstance(media, dict):
        out.error(None, "not_an_object", "a Media item is a JSON object", where)
        return
    try:
        category = _vics_category(media.get("Category"))
    except ValueError:
        message = 'Category is a whole number (1, "1" or 1.0) or null'
        out.error(None, "invalid_category", message, f"{where}.Category")
        return
    found = False
    for key, kind in (("MD5", SignalType.MD5), ("SHA1", SignalType.SHA1)):
        value = media.get(key)
        if value in (None, ""):
            continue
        found = True
        try:
            if not isinstance(value, str):
                raise InvalidSignal(f"invalid_{kind.value}", f"{key} is a string")
            out.add(Entry(kind, normalise_signal(kind, value), vics_label(category)))
        except InvalidSignal as exc:
            out.error(None, exc.code, exc.message, f"{where}.{key}")
    if found:
        return
    other = next((key for key in VICS_UNMATCHABLE if media.get(key) not in (None, "", [])), None)
    if other is not None:
        out.skip(other)  # a hash tarcza cannot match: counted, never a refusal
    else:
        out.error(None, "no_hash", "the Media item has neither MD5 nor SHA1", where)


def parse_vics(text: str) -> ParseResult:
    """Read the MD5 and SHA1 of every Media item; ``Category`` n becomes the label ``vics:n``.

    Items with only other hashes (PhotoDNA, alternative hashes) are skipped and counted.
    """
    out = _Collector()
    try:
        document = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        out.error(exc.lineno, "malformed_json", f"the file is not valid JSON: {exc.msg}")
        return out.result()
    for where, media in _vics_media(document, out):
        _read_vics_item(where, media, out)
    return out.result()


def to_vics(entries: Iterable[Entry]) -> tuple[str, int]:
    """Write MD5 and SHA1 entries as a VICS 2.0 Media list, one Media item per signal.

    Returns the JSON and how many entries of other types were left out.
    """
    media: list[dict[str, Any]] = []
    skipped = 0
    for entry in sorted(entries):
        if entry.signal_type not in (SignalType.MD5, SignalType.SHA1):
            skipped += 1
            continue
        key = "MD5" if entry.signal_type is SignalType.MD5 else "SHA1"
        media.append(
            {
                "MediaID": len(media) + 1,
                "Category": vics_category(entry.label),
                key: entry.value.upper(),  # VICS files spell hex in capitals
            }
        )
    document = {"@odata.context": VICS_CONTEXT, "value": media}
    return json.dumps(document, indent=1) + "\n", skipped


# -- by format ------------------------------------------------------------------------------


def parse(fmt: ExchangeFormat, text: str, bare_type: SignalType | None = None) -> ParseResult:
    """Parse ``text`` in ``fmt``; ``bare_type`` is the type of bare lines (``te`` only)."""
    if fmt is ExchangeFormat.CSV:
        return parse_csv(text)
    if fmt is ExchangeFormat.TE:
        return parse_te(text, bare_type)
    return parse_vics(text)


def serialise(fmt: ExchangeFormat, entries: Iterable[Entry]) -> tuple[str, int]:
    """Write ``entries`` in ``fmt``; also returns how many the format cannot hold."""
    if fmt is ExchangeFormat.CSV:
        return to_csv(entries), 0
    if fmt is ExchangeFormat.TE:
        return to_te(entries), 0
    return to_vics(entries)
