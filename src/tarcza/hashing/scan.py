"""Bulk scan: hash every image under a folder tree, resumably, on all cores or on a Ray cluster.

``tarcza scan PATH`` walks PATH (e.g. the export of a seized drive), hashes each JPEG, PNG, GIF
and WebP file (MD5, SHA-256 and PDQ, through :func:`tarcza.hashing.service.hash_image_bytes`)
and writes one record per file to a CSV or JSON file, with the bank matches of each file when
banks are named. The type is sniffed from the first bytes, so other files cost one small read.
Files that cannot be hashed are listed with a reason (see :data:`REASONS`) and counted.

Resuming: every finished batch of records is appended to ``<out>.checkpoint`` and fsynced
before the next is taken. After a crash or a ``kill -9``, ``--resume`` skips the paths recorded
there (a torn last line is dropped) and the final output is the same as an uninterrupted run's.
The checkpoint is removed once the output has been written.

Ray: with ``--ray ADDRESS`` batches of *paths* are sent to Ray tasks, which read the files
themselves, so the tree must be on storage every node mounts at the same path (NFS, CephFS, a
read-only export) and tarcza must be installed on every node (``pip install 'tarcza[scale]'``).
``--ray auto`` joins the Ray instance started on this machine or starts one;
``--ray ray://head:10001`` connects through the Ray client and ``--ray head:6379`` from a node
of the cluster. Records stream back to this process, which alone writes the checkpoint and the
output.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import ctypes.util
import functools
import hashlib
import importlib
import json
import multiprocessing
import os
import signal
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, Final, Protocol

from tarcza.hashing.images import ImageLimits, ImageRejected, sniff_media_type
from tarcza.hashing.service import DEFAULT_LIMITS, FileHashes, hash_image_bytes
from tarcza.services import ServicesFactory

#: Matches each file against banks: one list of match objects (JSON-able dicts) per file.
MatchFn = Callable[[list[FileHashes]], list[list[dict[str, Any]]]]

#: Why a file was not hashed, as written in the output's ``reason`` column.
REASONS: Final = (
    "unreadable",  # cannot be opened or read: broken link, permissions, I/O error, vanished
    "not_a_file",  # a FIFO, socket or device: never opened
    "folder_link",  # a link to a folder: not followed, as it may lead out of the tree
    "empty",
    "not_image",  # not JPEG, PNG, GIF or WebP by its first bytes
    "too_large_bytes",
    "too_many_pixels",  # e.g. a decompression bomb
    "corrupt",
    "hash_failed",  # an unexpected error while hashing: a bug, reported rather than fatal
)

CSV_COLUMNS: Final = (
    "path",
    "status",
    "reason",
    "md5",
    "sha256",
    "pdq",
    "quality",
    "media_type",
    "width",
    "height",
    "size_bytes",
    "matches",
)

_SNIFF_BYTES = 16
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters
_KEEP_BYTES = 32 * 1024 * 1024  # the largest mmap threshold glibc accepts on 64-bit machines
_READ_CHUNK = 1024 * 1024
_MATCH_CHUNK = 500
_CHECKPOINT_FORMAT = "tarcza-scan-checkpoint/1"


class ScanError(Exception):
    """A scan that cannot start or go on (bad arguments, a checkpoint in the way)."""


@dataclass(frozen=True)
class ScanRecord:
    """One file of the tree: its hashes, or the reason it has none.

    ``path`` is relative to the scanned folder, '/'-separated. Digests are also given for
    files that look like images but cannot be decoded (corrupt, too large, bombs).
    """

    path: str
    reason: str | None = None
    md5: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    quality: int | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None

    @property
    def status(self) -> str:
        """'hashed' or 'skipped'."""
        return "hashed" if self.reason is None else "skipped"


@dataclass(frozen=True)
class ScanSummary:
    """What a scan did: files seen, hashed, skipped per reason, matched, taken from a checkpoint."""

    files: int
    hashed: int
    reasons: dict[str, int]
    matched: int
    resumed: int
    out: Path
    hashed_now: int = field(default=0)

    @property
    def skipped(self) -> int:
        """Files not hashed, whatever the reason."""
        return sum(self.reasons.values())


# -- hashing one file (runs in worker processes and Ray tasks) ----------------------------


def hash_path(root: str, rel: str, limits: ImageLimits = DEFAULT_LIMITS) -> ScanRecord:
    """Hash the file ``rel`` under ``root``; never raises for a bad file."""
    try:
        return _hash_path(root, rel, limits)
    except Exception:  # noqa: BLE001 - one bad file must not end a scan of millions
        return ScanRecord(rel, "hash_failed")


def hash_batch(
    root: str, rels: Sequence[str], limits: ImageLimits = DEFAULT_LIMITS
) -> list[ScanRecord]:
    """Hash several files (the unit of work given to a process or a Ray task)."""
    _keep_freed_buffers()
    return [hash_path(root, rel, limits) for rel in rels]


@functools.cache
def _keep_freed_buffers() -> None:
    """Ask glibc to keep freed image-sized buffers for reuse instead of unmapping them.

    By default a fresh process hands every buffer over 128 KiB back to the kernel when freed,
    so each decoded image pays for new zeroed pages again: hashing runs ~40% slower than in a
    warmed-up process. A no-op on other C libraries.
    """
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:
        mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BYTES)
        mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)


def _hash_path(root: str, rel: str, limits: ImageLimits) -> ScanRecord:
    full = Path(root, rel)
    try:
        info = full.stat()
    except OSError:
        return ScanRecord(rel, "unreadable")
    if not stat.S_ISREG(info.st_mode):
        return ScanRecord(rel, "not_a_file")
    try:
        with full.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
            if not head:
                return ScanRecord(rel, "empty", size_bytes=0)
            media_type = sniff_media_type(head)
            if media_type is None:
                return ScanRecord(rel, "not_image", size_bytes=info.st_size)
            data = head + fh.read(limits.max_bytes + 1 - len(head))
            if len(data) > limits.max_bytes:
                md5, sha256, size = _stream_digests(data, fh)
                return ScanRecord(
                    rel, "too_large_bytes", md5, sha256, media_type=media_type, size_bytes=size
                )
    except OSError:
        return ScanRecord(rel, "unreadable")
    try:
        hashes = hash_image_bytes(data, limits)
    except ImageRejected as exc:
        reason = exc.code if exc.code in REASONS else "corrupt"
        return ScanRecord(
            rel,
            reason,
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            hashlib.sha256(data).hexdigest(),
            media_type=media_type,
            size_bytes=len(data),
        )
    return ScanRecord(
        rel,
        None,
        hashes.md5,
        hashes.sha256,
        hashes.pdq,
        hashes.pdq_quality,
        hashes.media_type,
        hashes.width,
        hashes.height,
        hashes.size_bytes,
    )


def _stream_digests(start: bytes, fh: IO[bytes]) -> tuple[str, str, int]:
    md5, sha256 = hashlib.md5(start, usedforsecurity=False), hashlib.sha256(start)
    size = len(start)
    while chunk := fh.read(_READ_CHUNK):
        md5.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return md5.hexdigest(), sha256.hexdigest(), size


# -- where the work runs ------------------------------------------------------------------


class Backend(Protocol):
    """Runs hash_batch over batches of paths; yields each batch's records as it finishes.

    ``batch_size`` is the most paths in one batch; ``workers`` how many batches run at once
    (smaller scans get smaller batches, so that every worker has some).
    """

    batch_size: int
    workers: int

    def map_batches(
        self, root: str, batches: Iterable[list[str]], limits: ImageLimits
    ) -> Iterator[list[ScanRecord]]: ...


BatchHasher = Callable[[str, Sequence[str], ImageLimits], list[ScanRecord]]


class InProcess:
    """Hash in this process, one batch after another (``--workers 1``, tests)."""

    workers = 1

    def __init__(self, hasher: BatchHasher = hash_batch, batch_size: int = 4) -> None:
        self.hasher = hasher
        self.batch_size = batch_size

    def map_batches(
        self, root: str, batches: Iterable[list[str]], limits: ImageLimits
    ) -> Iterator[list[ScanRecord]]:
        for batch in batches:
            yield self.hasher(root, batch, limits)


class LocalPool:
    """Hash on ``workers`` processes of this machine.

    The processes are started by a fork server, which imports the main module again: a script
    that scans must keep its work under ``if __name__ == "__main__":``.
    """

    def __init__(self, workers: int, batch_size: int = 8) -> None:
        self.workers = max(1, workers)
        self.batch_size = batch_size

    def map_batches(
        self, root: str, batches: Iterable[list[str]], limits: ImageLimits
    ) -> Iterator[list[ScanRecord]]:
        pool = ProcessPoolExecutor(
            self.workers, mp_context=_process_context(), initializer=_ignore_interrupts
        )
        try:
            pending: set[Future[list[ScanRecord]]] = set()
            todo = iter(batches)
            while True:
                while len(pending) < 4 * self.workers and (batch := next(todo, None)):
                    pending.add(pool.submit(hash_batch, root, batch, limits))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class RayCluster:
    """Hash in Ray tasks; ``address`` None joins or starts a local instance ("auto").

    ``workers`` is the parallelism assumed when sizing the batches of a small scan.
    """

    def __init__(self, address: str | None, batch_size: int = 32, workers: int = 16) -> None:
        self.address = address
        self.batch_size = batch_size
        self.workers = workers

    def map_batches(
        self, root: str, batches: Iterable[list[str]], limits: ImageLimits
    ) -> Iterator[list[ScanRecord]]:
        ray = _import_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address)
        task = ray.remote(num_cpus=1, max_retries=3)(hash_batch)
        limit = max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: list[Any] = []
        try:
            todo = iter(batches)
            while True:
                while len(pending) < limit and (batch := next(todo, None)):
                    pending.append(task.remote(root, batch, limits))
                if not pending:
                    return
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)
            if started:
                ray.shutdown()


def _import_ray() -> Any:
    try:
        # Imported by name: Ray is an optional extra, and type checking must not require it.
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ScanError("--ray needs Ray: pip install 'tarcza[scale]'") from exc


def _process_context() -> BaseContext:
    # Not fork: the progress bar runs a thread, and forking a threaded process can deadlock.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tarcza.hashing.scan"])
        return context
    return multiprocessing.get_context("spawn")


def _ignore_interrupts() -> None:
    # Ctrl-C is the driver's to handle: it stops the pool and keeps the checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the tree, the checkpoint and the output ----------------------------------------------


def walk_tree(
    root: str, exclude: frozenset[str] = frozenset()
) -> tuple[list[str], list[ScanRecord]]:
    """The files under ``root`` (relative, sorted) and records for what cannot be walked."""
    files: list[str] = []
    skipped: list[ScanRecord] = []

    def relative(path: str | Path) -> str:
        return Path(os.path.relpath(path, root)).as_posix()

    def unreadable(error: OSError) -> None:
        skipped.append(ScanRecord(relative(str(error.filename)), "unreadable"))

    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders.sort()
        for name in subfolders:
            if Path(folder, name).is_symlink():  # os.walk does not follow them
                skipped.append(ScanRecord(relative(Path(folder, name)), "folder_link"))
        for name in sorted(names):
            rel = relative(Path(folder, name))
            if rel not in exclude:
                files.append(rel)
    return files, skipped


def checkpoint_path(out: Path) -> Path:
    """Where the checkpoint of a scan writing ``out`` lives."""
    return out.with_name(out.name + ".checkpoint")


class Checkpoint:
    """The append-only, fsynced record of finished files, one JSON object a line."""

    def __init__(self, path: Path, root: str) -> None:
        self.path = path
        self.root = root
        self._fh: IO[str] | None = None

    def load(self) -> dict[str, ScanRecord]:
        """The records of an earlier run; drops a torn last line (from a kill mid-write)."""
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if not complete:
            return {}  # killed while writing the header: nothing was recorded
        lines = complete.decode("utf-8", errors="surrogateescape").splitlines()
        if not lines or _header(lines[0]) != {"format": _CHECKPOINT_FORMAT, "root": self.root}:
            raise ScanError(
                f"{self.path} is not the checkpoint of a scan of {self.root}; "
                "remove it or scan the folder it was made for"
            )
        if len(complete) != len(raw):
            with self.path.open("r+b") as fh:
                fh.truncate(len(complete))
        names = {f.name for f in fields(ScanRecord)}
        records: dict[str, ScanRecord] = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = ScanRecord(**{k: v for k, v in json.loads(line).items() if k in names})
            except (ValueError, TypeError) as exc:
                raise ScanError(f"{self.path}:{number}: damaged checkpoint line") from exc
            records[record.path] = record
        return records

    def open(self, *, fresh: bool) -> None:
        """Open for appending; ``fresh`` starts a new file with its header line."""
        self._fh = self.path.open("w" if fresh else "a", encoding="ascii")
        if fresh:
            self._fh.write(json.dumps({"format": _CHECKPOINT_FORMAT, "root": self.root}) + "\n")
            self._sync()
            _fsync_folder(self.path.parent)

    def append(self, records: Sequence[ScanRecord]) -> None:
        """Record finished files durably: they will not be hashed again on resume."""
        assert self._fh is not None, "open() first"
        self._fh.write("".join(json.dumps(asdict(r)) + "\n" for r in records))
        self._sync()

    def close(self) -> None:
        """Close the file (it stays, for --resume)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Delete the checkpoint once the output holds everything."""
        self.close()
        self.path.unlink(missing_ok=True)

    def _sync(self) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())


def _header(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_output(
    out: Path, root: str, rows: Sequence[tuple[ScanRecord, list[dict[str, Any]]]]
) -> None:
    """Write the records (sorted by path) as CSV or JSON, by the suffix; atomically."""
    tmp = out.with_name(out.name + ".tmp")
    # surrogateescape writes undecodable file names back as the bytes they were.
    with tmp.open("w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        if out.suffix.lower() == ".json":
            json.dump(_json_document(root, rows), fh, indent=1)
            fh.write("\n")
        else:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for record, matches in rows:
                row = _row(record, matches)
                row["matches"] = json.dumps(matches, separators=(",", ":")) if matches else ""
                writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out)
    _fsync_folder(out.parent)


def _row(record: ScanRecord, matches: list[dict[str, Any]]) -> dict[str, Any]:
    row = asdict(record)
    row["status"] = record.status
    row["matches"] = matches
    return {column: row[column] for column in CSV_COLUMNS}


def _json_document(
    root: str, rows: Sequence[tuple[ScanRecord, list[dict[str, Any]]]]
) -> dict[str, Any]:
    reasons = Counter(r.reason for r, _ in rows if r.reason is not None)
    return {
        "root": root,
        "summary": {
            "files": len(rows),
            "hashed": sum(1 for r, _ in rows if r.reason is None),
            "skipped": dict(sorted(reasons.items())),
            "matched": sum(1 for _, m in rows if m),
        },
        "files": [_row(record, matches) for record, matches in rows],
    }


# -- the scan -----------------------------------------------------------------------------


def scan_tree(
    root: str | Path,
    out: str | Path,
    *,
    backend: Backend | None = None,
    match: MatchFn | None = None,
    resume: bool = False,
    limits: ImageLimits = DEFAULT_LIMITS,
    show_progress: bool = False,
    on_batch: Callable[[list[ScanRecord]], None] | None = None,
) -> ScanSummary:
    """Hash every file under ``root`` and write the records (and matches) to ``out``.

    ``out`` ends in .csv or .json. With ``resume`` the files in the checkpoint of an earlier,
    interrupted scan are not hashed again. ``on_batch`` is called after each batch is
    checkpointed. Raises ScanError when it cannot start; any other exception leaves the
    checkpoint for a later ``resume``.
    """
    root_dir, out_path = Path(root).resolve(), Path(out).resolve()
    if not root_dir.is_dir():
        raise ScanError(f"{root} is not a folder")
    if out_path.suffix.lower() not in (".csv", ".json"):
        raise ScanError(f"the output must end in .csv or .json, not {out_path.name!r}")
    base = str(root_dir)
    checkpoint = Checkpoint(checkpoint_path(out_path), base)
    if checkpoint.path.exists() and not resume:
        raise ScanError(
            f"{checkpoint.path} is left from an interrupted scan: "
            "add --resume to go on with it, or remove it to start again"
        )
    done = checkpoint.load() if resume and checkpoint.path.exists() else {}
    own_files = (out_path, checkpoint.path, out_path.with_name(out_path.name + ".tmp"))
    files, walk_skipped = walk_tree(base, _inside(own_files, root_dir))
    todo = [rel for rel in files if rel not in done]
    backend = backend or LocalPool(os.cpu_count() or 1)
    checkpoint.open(fresh=not done)
    hashed_now = 0
    try:
        with _progress(show_progress, total=len(files), done=len(files) - len(todo)) as advance:
            batch_size = min(backend.batch_size, -(-len(todo) // (4 * backend.workers)))
            batches = _chunks(todo, batch_size)
            for records in backend.map_batches(base, batches, limits):
                checkpoint.append(records)
                for record in records:
                    done[record.path] = record
                hashed_now += len(records)
                advance(len(records))
                if on_batch is not None:
                    on_batch(records)
    finally:
        checkpoint.close()
    records = sorted(walk_skipped + [done[rel] for rel in files], key=lambda r: r.path)
    matches = _match_all(records, match) if match is not None else [[] for _ in records]
    write_output(out_path, base, list(zip(records, matches, strict=True)))
    checkpoint.remove()
    return ScanSummary(
        files=len(records),
        hashed=sum(1 for r in records if r.reason is None),
        reasons=dict(sorted(Counter(r.reason for r in records if r.reason).items())),
        matched=sum(1 for m in matches if m),
        resumed=len(files) - len(todo),
        out=out_path,
        hashed_now=hashed_now,
    )


def _inside(paths: Iterable[Path], root: Path) -> frozenset[str]:
    return frozenset(p.relative_to(root).as_posix() for p in paths if p.is_relative_to(root))


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@contextmanager
def _progress(enabled: bool, total: int, done: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (files, files/s, ETA) on stderr; nothing when not enabled."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("hashing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("scan", total=total, completed=done, rate="")

        def advance(n: int) -> None:
            speed = progress.tasks[0].speed
            rate = f"{speed:.1f} files/s" if speed else ""
            progress.update(task, advance=n, rate=rate)

        yield advance


def _match_all(records: Sequence[ScanRecord], match: MatchFn) -> list[list[dict[str, Any]]]:
    """Match every record that has digests, in chunks; [] for the others."""
    found: list[list[dict[str, Any]]] = [[] for _ in records]
    wanted = [i for i, r in enumerate(records) if r.md5 is not None and r.sha256 is not None]
    for start in range(0, len(wanted), _MATCH_CHUNK):
        part = wanted[start : start + _MATCH_CHUNK]
        answers = match([_file_hashes(records[i]) for i in part])
        if len(answers) != len(part):
            raise RuntimeError(f"the matcher answered {len(answers)} of {len(part)} files")
        for i, answer in zip(part, answers, strict=True):
            found[i] = answer
    return found


def _file_hashes(record: ScanRecord) -> FileHashes:
    return FileHashes(
        md5=record.md5 or "",
        sha256=record.sha256 or "",
        pdq=record.pdq,
        pdq_quality=record.quality,
        media_type=record.media_type or "",
        width=record.width or 0,
        height=record.height or 0,
        size_bytes=record.size_bytes or 0,
    )


@contextmanager
def _bank_matcher(bank_names: Sequence[str], services: ServicesFactory) -> Iterator[MatchFn]:
    """Match against the named (enabled) banks with the hash bank matcher.

    The banks and the index are checked before the scan starts, so that a typo does not
    surface only after hours of hashing.
    """
    from tarcza.hashing import bank_service
    from tarcza.hashing.matcher import Matcher, file_queries
    from tarcza.store.engine import Database

    db = services().get(Database)
    with db.sessions() as session:
        banks = [bank_service.get_bank(session, name) for name in bank_names]
    disabled = [bank.name for bank in banks if not bank.enabled]
    if disabled:
        raise ScanError(f"bank(s) disabled, so never matched: {', '.join(disabled)}")
    scope = frozenset(bank.id for bank in banks)
    matcher = services().get(Matcher)
    matcher.start()

    def match(files: list[FileHashes]) -> list[list[dict[str, Any]]]:
        results = matcher.match([file_queries(f) for f in files], scope=scope)
        return [
            [
                {
                    "bank": m.bank,
                    "label": m.label,
                    "signal_type": m.signal_type.value,
                    "signal": m.signal,
                    "distance": m.distance,
                }
                for m in result.matches
            ]
            for result in results
        ]

    yield match


# -- the command line ---------------------------------------------------------------------


def scan_command(args: argparse.Namespace, services: ServicesFactory) -> int:
    """``tarcza scan``: 0 when the output is written, 1 on a bank error, 2 when it cannot start,
    130 when interrupted (the checkpoint is kept for --resume)."""
    from tarcza.hashing.bank_service import BankError

    if args.ray is not None:
        backend: Backend = RayCluster(None if args.ray == "auto" else args.ray)
    elif args.workers == 1:
        backend = InProcess()
    else:
        backend = LocalPool(args.workers or os.cpu_count() or 1)
    try:
        with _matching(args.bank, services) as match:
            summary = scan_tree(
                args.path,
                args.out,
                backend=backend,
                match=match,
                resume=args.resume,
                show_progress=sys.stderr.isatty(),
            )
    except ScanError as exc:
        print(f"tarcza: {exc}", file=sys.stderr)
        return 2
    except BankError as exc:
        print(f"tarcza: {exc.field}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "tarcza: interrupted; the files done so far are kept in "
            f"{checkpoint_path(Path(args.out).resolve())}: run again with --resume",
            file=sys.stderr,
        )
        return 130
    print(_summary_text(summary))
    return 0


@contextmanager
def _matching(bank_names: Sequence[str], services: ServicesFactory) -> Iterator[MatchFn | None]:
    if not bank_names:
        yield None
        return
    with _bank_matcher(bank_names, services) as match:
        yield match


def _summary_text(summary: ScanSummary) -> str:
    lines = [
        f"{summary.files} files: {summary.hashed} hashed, {summary.skipped} skipped"
        + (f", {summary.resumed} taken from the checkpoint" if summary.resumed else ""),
    ]
    lines += [f"  {reason}: {count}" for reason, count in summary.reasons.items()]
    lines.append(f"{summary.matched} files matched a bank; results in {summary.out}")
    return "\n".join(lines)
