"""Uploads do not exhaust the server's memory (issue 11, defect 3), measured on ``tarcza serve``.

Eight clients at once each POST a report with ten ~20 MiB PNG files (synthetic noise, stored
uncompressed, streamed by the client from disk): about 1.6 GB in flight. The server's total
resident memory (``tarcza serve`` and every process under it, ``VmRSS`` from /proc) is sampled
every 50 ms and must stay under 600 MiB, with every answer a 201. A second load sends many
~39 megapixel images that are small in bytes (decompression-bomb style): the decode pixel
budget keeps the same bound.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.system.harness import Deployment, deployment, outside_world

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.abuse]

MiB = 1024 * 1024
RSS_LIMIT = 600 * MiB
CLIENTS = 8
FILES = 10
BOUNDARY = "tarcza-upload-memory-test"
REPORT = {"category": "csam", "description": "Zmyślone zgłoszenie do testu pamięci."}
# Bounds on every wait (seconds): one request, and the whole load.
REQUEST_WITHIN = 300.0
LOAD_WITHIN = 600.0


# -- the server's memory ----------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(root: int) -> int:
    """VmRSS in bytes of ``root`` and all its descendants (processes gone meanwhile count 0)."""
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class Sampler:
    """Samples a process tree's RSS every 50 ms in a thread, keeping the peak."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.root))
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


# -- the client -------------------------------------------------------------------------------


def _head(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"\r\nContent-Type: image/png'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


def _pieces(paths: list[Path]) -> tuple[list[bytes | Path], int]:
    report = _head("report") + json.dumps(REPORT).encode() + b"\r\n"
    pieces: list[bytes | Path] = [report]
    for path in paths:
        pieces += [_head("files", path.name), path, b"\r\n"]
    pieces.append(f"--{BOUNDARY}--\r\n".encode())
    size = sum(len(p) if isinstance(p, bytes) else p.stat().st_size for p in pieces)
    return pieces, size


def _stream(pieces: list[bytes | Path]) -> Iterator[bytes]:
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
            continue
        with piece.open("rb") as fh:
            while chunk := fh.read(256 * 1024):
                yield chunk


def post_files(base_url: str, paths: list[Path]) -> int:
    """POST a multipart report with ``paths`` as files, streamed from disk; the status code."""
    pieces, size = _pieces(paths)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(size),
    }
    with httpx.Client(timeout=REQUEST_WITHIN) as client:
        answer = client.post(base_url + "/api/v1/reports", content=_stream(pieces), headers=headers)
    return answer.status_code


@dataclass
class Load:
    statuses: list[int]
    peak: int
    baseline: int
    seconds: float
    samples: int


def run_load(deployed: Deployment, paths: list[Path], clients: int = CLIENTS) -> Load:
    pid = deployed.processes["server"].pid
    assert pid is not None
    # One small report first, so that the baseline is the server warmed up (pages imported).
    assert post_files(deployed.url, paths[:1]) == 201
    baseline = tree_rss(pid)
    started = time.monotonic()
    with Sampler(pid) as sampler, ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(post_files, deployed.url, paths) for _ in range(clients)]
        statuses = [f.result(timeout=LOAD_WITHIN) for f in futures]
    return Load(statuses, sampler.peak, baseline, time.monotonic() - started, sampler.samples)


def report(name: str, load: Load, files: int, file_bytes: int) -> str:
    return (
        f"\n[{name}] {len(load.statuses)} concurrent requests x {files} files of "
        f"{file_bytes / MiB:.1f} MiB: statuses {sorted(set(load.statuses))}, "
        f"peak RSS {load.peak / MiB:.0f} MiB (limit {RSS_LIMIT / MiB:.0f}), "
        f"baseline RSS {load.baseline / MiB:.0f} MiB, {load.seconds:.1f} s, "
        f"{load.samples} samples"
    )


# -- the tests --------------------------------------------------------------------------------


# Nine reports from one address in a minute: no limit on new reports gets in the way (these
# settings exist once the limits on new reports do; unknown settings are ignored).
NO_REPORT_LIMITS = {"TARCZA_REPORT_RATE_PER_CLIENT": "", "TARCZA_REPORT_RATE_OVERALL": ""}


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployment]:
    with (
        outside_world({}) as world,
        deployment("sqlite", tmp_path / "tarcza", world, NO_REPORT_LIMITS) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Ten ~20 MiB PNG files of noise (2600 x 2600 RGB, stored uncompressed), made once."""
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(11)
    paths = []
    for i in range(FILES):
        path = folder / f"noise-{i}.png"
        pixels = rng.integers(0, 256, size=(2600, 2600, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format="PNG", compress_level=0)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """~39 megapixel RGB pictures (flat colour and a few shapes): a few kilobytes each."""
    folder = tmp_path_factory.mktemp("bombs")
    paths = []
    for i in range(FILES):
        img = Image.new("RGB", (6250, 6240), (20 * i, 120, 200))
        draw = ImageDraw.Draw(img)
        draw.rectangle((100 * i, 300, 2000 + 100 * i, 3000), fill=(250, 30, 10 * i))
        draw.ellipse((3000, 1000 + 50 * i, 6000, 5000), fill=(10, 200, 40))
        path = folder / f"bomb-{i}.png"
        img.save(path, format="PNG", optimize=True)
        paths.append(path)
    return paths


def test_eight_clients_sending_ten_20_mib_files_each_stay_under_600_mib(
    deployed: Deployment, noise_files: list[Path]
) -> None:
    file_bytes = max(p.stat().st_size for p in noise_files)
    assert 19 * MiB < file_bytes <= 20 * MiB

    load = run_load(deployed, noise_files)

    print(report("20 MiB noise", load, FILES, file_bytes))
    assert all(status < 500 for status in load.statuses), load.statuses
    assert load.statuses == [201] * CLIENTS, load.statuses
    assert load.peak < RSS_LIMIT, report("20 MiB noise", load, FILES, file_bytes)


def test_many_39_megapixel_images_at_once_stay_under_600_mib(
    deployed: Deployment, bomb_files: list[Path]
) -> None:
    file_bytes = max(p.stat().st_size for p in bomb_files)
    assert file_bytes < MiB  # small in bytes, huge in pixels

    load = run_load(deployed, bomb_files)

    print(report("39 Mpx images", load, FILES, file_bytes))
    assert all(status < 500 for status in load.statuses), load.statuses
    assert load.statuses == [201] * CLIENTS, load.statuses
    assert load.peak < RSS_LIMIT, report("39 Mpx images", load, FILES, file_bytes)
