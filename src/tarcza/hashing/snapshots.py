"""Saved PDQ indexes: one folder per snapshot, and a ``CURRENT`` file naming the latest.

A snapshot is written completely under a temporary name and then renamed, and ``CURRENT`` is
replaced atomically, so a reader (another worker, the next start) sees either the old or the
new snapshot, never half of one. Anything unreadable is reported as "no snapshot": the index is
then rebuilt from the database, which is always the source of truth.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tarcza.hashing.index import PdqIndex

log = logging.getLogger("tarcza.matcher")

CURRENT = "CURRENT"
FORMAT = 1
_NAME = re.compile(r"pdq-\d{12}-[0-9a-f]{8}")
# Old snapshots are pruned only after a while, in case another worker is still reading one.
_PRUNE_AFTER_SECONDS = 600


@dataclass
class Snapshot:
    """An index, the signal ids it holds and the last change it reflects."""

    index: PdqIndex
    ids: set[int]
    seq: int


def save_snapshot(folder: Path, snapshot: Snapshot) -> Path:
    """Write ``snapshot`` under ``folder`` and make it the current one; returns its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pdq-{snapshot.seq:012d}-{secrets.token_hex(4)}"
    temporary = folder / f".{name}.tmp"
    temporary.mkdir()
    try:
        snapshot.index.save(temporary / "index")
        ids = np.fromiter(sorted(snapshot.ids), dtype=np.int64, count=len(snapshot.ids))
        np.save(temporary / "ids.npy", ids, allow_pickle=False)
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
    path = folder / name
    try:
        meta = json.loads((path / "meta.json").read_text())
        ids = np.load(path / "ids.npy", allow_pickle=False)
        index = PdqIndex.load(path / "index")
        if meta.get("format") != FORMAT or not len(index) == len(ids) == meta.get("count"):
            raise ValueError("the snapshot's parts disagree")
        return Snapshot(index=index, ids={int(i) for i in ids}, seq=int(meta["seq"]))
    except Exception as exc:  # noqa: BLE001 — any damage means "rebuild", never "fail to start"
        log.warning("cannot load the PDQ index from %s (%s); rebuilding it", path, exc)
        return None


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
