"""Saved PDQ indexes: one folder per snapshot, and a ``CURRENT`` file naming the latest.

A snapshot is written completely under a temporary name and then renamed, and ``CURRENT`` is
replaced atomically, so a reader (another worker, the next start) sees either the old or the
new snapshot, never half of one. Anything unreadable is reported as "no snapshot": the index is
then rebuilt from the database, which is always the source of truth.

Loading costs no copy: the index's tables, the sorted id array (``ids.npy``, uint32 when the
ids fit, else int64) and the bank of each id (``banks.npy``, int32, aligned with the ids) are
memory-mapped, so every process serving from one snapshot shares the same page cache.

Format 2 added ``banks.npy`` (the matcher answers the ``/m/`` lookups' hits from it). A
snapshot of another format, format 1 included, is "no snapshot": the index is rebuilt from the
database once, as with no snapshot (see ``bench/worker_start.py``), and saved in format 2.
Loading it with the banks unknown would leave every hit to the database until the next
rebuild, which nothing else would ever trigger.

Processes coordinate through two lock files in the folder (``flock``, released
by the kernel when a process dies): :func:`building` lets one process build a missing index
while the others wait for it and then load what it saved, and :func:`saving` lets one process
at a time write a snapshot.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tarcza.hashing.idset import IdSet
from tarcza.hashing.index import PdqIndex

log = logging.getLogger("tarcza.matcher")

CURRENT = "CURRENT"
FORMAT = 2  # 2: banks.npy, the bank of each signal
_NAME = re.compile(r"pdq-\d{12}-[0-9a-f]{8}")
# Old snapshots are pruned only after a while, in case another worker is still reading one.
_PRUNE_AFTER_SECONDS = 600


@dataclass
class Snapshot:
    """An index, the signal ids it holds (tagged with their banks) and the last change it
    reflects."""

    index: PdqIndex
    ids: IdSet
    seq: int
    path: Path | None = None  # the folder it was loaded from or saved to


def save_snapshot(folder: Path, snapshot: Snapshot) -> Path:
    """Write ``snapshot`` under ``folder`` and make it the current one; returns its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pdq-{snapshot.seq:012d}-{secrets.token_hex(4)}"
    temporary = folder / f".{name}.tmp"
    temporary.mkdir()
    try:
        ids, banks = snapshot.ids.to_arrays()
        if banks is None:
            raise ValueError("a snapshot's ids are tagged with their banks")
        snapshot.index.save(temporary / "index")
        np.save(temporary / "ids.npy", np.ascontiguousarray(ids), allow_pickle=False)
        np.save(temporary / "banks.npy", np.ascontiguousarray(banks), allow_pickle=False)
        meta = {"format": FORMAT, "seq": snapshot.seq, "count": len(snapshot.ids)}
        (temporary / "meta.json").write_text(json.dumps(meta))
        temporary.replace(folder / name)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    pointer = folder / f".{CURRENT}.{secrets.token_hex(4)}.tmp"
    pointer.write_text(name + "\n")
    pointer.replace(folder / CURRENT)
    _prune(folder, keep=name)
    snapshot.path = folder / name
    return folder / name


def load_snapshot(folder: Path) -> Snapshot | None:
    """The current snapshot under ``folder``, or None when there is none or it is unreadable."""
    try:
        name = (folder / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s; rebuilding the index", folder / CURRENT, exc)
        return None
    if not _NAME.fullmatch(name):
        log.warning("%s names no snapshot; rebuilding the index", folder / CURRENT)
        return None
    return load_snapshot_at(folder / name)


def load_snapshot_at(path: Path) -> Snapshot | None:
    """The snapshot in folder ``path``, or None when it is unreadable (a warning is logged)."""
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, not {FORMAT}")
        # Memory-mapped, read-only (an empty array cannot be mapped).
        mapped: Literal["r"] | None = "r" if meta.get("count") else None
        ids = IdSet.adopt(
            np.load(path / "ids.npy", mmap_mode=mapped, allow_pickle=False),
            np.load(path / "banks.npy", mmap_mode=mapped, allow_pickle=False),
        )
        index = PdqIndex.load(path / "index")
        if not len(index) == len(ids) == meta.get("count"):
            raise ValueError("the snapshot's parts disagree")
        return Snapshot(index=index, ids=ids, seq=int(meta["seq"]), path=path)
    except Exception as exc:  # noqa: BLE001 — any damage means "rebuild", never "fail to start"
        log.warning("cannot load the PDQ index from %s (%s); rebuilding it", path, exc)
        return None


def current_name(folder: Path) -> str | None:
    """The name of the current snapshot under ``folder`` (only ``CURRENT`` is read), or None."""
    try:
        name = (folder / CURRENT).read_text().strip()
    except OSError:
        return None
    return name if _NAME.fullmatch(name) else None


def current_seq(folder: Path) -> int | None:
    """The change the current snapshot under ``folder`` reflects (read from its name), or
    None when there is none."""
    name = current_name(folder)
    return None if name is None else int(name.split("-")[1])


@contextmanager
def building(folder: Path) -> Iterator[None]:
    """Hold the folder's build lock: waits while another process builds the index."""
    with _flock(folder, "build.lock", wait=True):
        yield


@contextmanager
def saving(folder: Path) -> Iterator[bool]:
    """Try the folder's save lock: yields True when held, False when another process is
    writing a snapshot right now (then do not write one too)."""
    with _flock(folder, "save.lock", wait=False) as held:
        yield held


@contextmanager
def _flock(folder: Path, name: str, *, wait: bool) -> Iterator[bool]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # e.g. a read-only folder: go on unlocked (a save will then fail)
        log.warning("cannot lock %s (%s)", folder / name, exc)
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _prune(folder: Path, keep: str) -> None:
    cutoff = time.time() - _PRUNE_AFTER_SECONDS
    for entry in folder.iterdir():
        if entry.name == keep or not entry.is_dir():
            continue
        if not (_NAME.fullmatch(entry.name) or entry.name.endswith(".tmp")):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue
