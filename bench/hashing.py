"""Images per second: tarcza's hasher and scan against python-threatexchange's PDQ hasher.

Generates photo-like JPEGs (smooth gradients, shapes, noise: synthetic only) of two sizes into a
temporary folder and hashes the very same files, on one core and on all cores, with:

- tarcza ``hash_image_bytes`` (safe decoding + MD5 + SHA-256 + PDQ),
- the tarcza scan pipeline (``scan_tree``: walk, sniff, hash, checkpoint, CSV output) over
  ``--scan-copies`` hard links to each file, so that starting the worker pool (~0.2 s) does not
  dominate,
- python-threatexchange ``pdq_from_file`` (the reference: PDQ only).

The ratio column is tarcza's images/s over the reference's at the same number of cores (target:
>= 3). Each figure is the best of ``--repeat`` runs, as the machine may be shared.

    .venv/bin/python bench/hashing.py [--small 40] [--large 10] [--repeat 3]

threatexchange==1.2.17 is the ``bench`` extra. When it cannot live in this environment, install it
in another one and pass ``--reference-python /path/to/venv/bin/python``: the reference side then
runs there, in a subprocess, on the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SIZES = {"small": (1024, 768), "large": (4000, 3000)}


def photo(seed: int, width: int, height: int) -> bytes:
    """A JPEG that compresses and hashes like a photo: gradients, shapes, sensor-like noise."""
    from io import BytesIO

    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (
            int(rng.integers(width // 20, width // 4)),
            int(rng.integers(height // 20, height // 4)),
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=max(1, width // 800)))
    noise = rng.integers(-7, 8, size=(height, width, 1), dtype=np.int16)
    pixels = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def generate(folder: Path, counts: dict[str, int]) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for name, count in counts.items():
        width, height = SIZES[name]
        (folder / name).mkdir(parents=True)
        files[name] = []
        for n in range(count):
            path = folder / name / f"photo{n:03d}.jpg"
            path.write_bytes(photo(n, width, height))
            files[name].append(path)
    return files


def linked_copies(folder: Path, name: str, paths: Sequence[Path], copies: int) -> Path:
    """A folder with ``copies`` hard links to each file (made once), for the scan rows."""
    target = folder / f"scan-{name}"
    if not target.exists():
        target.mkdir()
        for k in range(copies):
            for path in paths:
                os.link(path, target / f"{k:02d}-{path.name}")
    return target


# -- the hashers (module level, so that worker processes can import them) ------------------


def tarcza_hash(path: str) -> str | None:
    from tarcza.hashing.service import hash_image_bytes

    return hash_image_bytes(Path(path).read_bytes()).pdq


def reference_hash(path: str) -> str:
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file

    pdq, _quality = pdq_from_file(Path(path))
    return pdq


def _warm(_n: int) -> int:
    import tarcza.hashing.service  # noqa: F401

    with contextlib.suppress(ImportError):
        import threatexchange.signal_type.pdq.pdq_hasher  # noqa: F401
    return os.getpid()


def best_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def time_hasher(
    hasher: Callable[[str], object], paths: Sequence[str], cores: int, repeat: int
) -> tuple[float, list[object]]:
    """Best wall time to hash ``paths`` on ``cores`` processes (pool started beforehand)."""
    if cores == 1:
        hasher(paths[0])  # warm imports and caches
        results: list[object] = []
        seconds = best_time(lambda: results.__setitem__(slice(None), map(hasher, paths)), repeat)
        return seconds, results
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_warm, range(cores * 2)))
        list(pool.map(hasher, paths[:cores]))
        out: list[object] = []
        seconds = best_time(lambda: out.__setitem__(slice(None), pool.map(hasher, paths)), repeat)
        return seconds, out


def time_scan(folder: Path, cores: int, repeat: int) -> float:
    """Best wall time of a whole scan_tree of ``folder`` (pool start-up included)."""
    from tarcza.hashing.scan import InProcess, LocalPool, scan_tree

    def run() -> None:
        with tempfile.TemporaryDirectory() as out:
            backend = InProcess() if cores == 1 else LocalPool(cores)
            summary = scan_tree(folder, Path(out) / "results.csv", backend=backend)
            assert summary.hashed == summary.files, summary

    return best_time(run, repeat)


def reference_side(paths: Sequence[str], cores: Sequence[int], repeat: int, python: str | None):
    """{cores: (seconds, hashes)} for the reference, here or in another interpreter."""
    if python is None:
        return {n: time_hasher(reference_hash, paths, n, repeat) for n in cores}
    args = [python, __file__, "--reference-only", json.dumps([list(paths), list(cores), repeat])]
    answer = json.loads(subprocess.run(args, capture_output=True, check=True, text=True).stdout)
    return {int(n): (seconds, hashes) for n, (seconds, hashes) in answer.items()}


def hamming(a: object, b: object) -> int:
    return (int(str(a), 16) ^ int(str(b), 16)).bit_count()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=40, help="1024x768 JPEGs")
    parser.add_argument("--large", type=int, default=10, help="4000x3000 JPEGs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scan-copies", type=int, default=10, help="links per file, for scans")
    parser.add_argument("--reference-python", help="an interpreter with threatexchange")
    parser.add_argument("--reference-only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_only:  # the subprocess side of --reference-python
        paths, cores, repeat = json.loads(args.reference_only)
        print(json.dumps({n: time_hasher(reference_hash, paths, n, repeat) for n in cores}))
        return 0
    if args.reference_python is None:
        try:
            import threatexchange  # noqa: F401
        except ImportError:
            print("threatexchange is not installed: pip install '.[bench]'", file=sys.stderr)
            print("or pass --reference-python with an interpreter that has it", file=sys.stderr)
            return 2
    # The scan tunes glibc's allocator in its workers; do it here, before the pools fork, so that
    # both hashers run with the same allocator settings.
    from tarcza.hashing.scan import _keep_freed_buffers

    _keep_freed_buffers()
    all_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = sorted({1, all_cores or 1})
    print(f"tarcza vs python-threatexchange 1.2.17 PDQ; {all_cores} cores; best of {args.repeat}")
    rows: list[tuple[str, str, int, int, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate(Path(tmp), {"small": args.small, "large": args.large})
        took = time.perf_counter() - started
        print(f"generated {sum(map(len, files.values()))} JPEGs in {took:.1f} s")
        for name, paths in files.items():
            size = "x".join(map(str, SIZES[name]))
            strs = [str(p) for p in paths]
            reference = reference_side(strs, cores, args.repeat, args.reference_python)
            for n in cores:
                ref_seconds, ref_hashes = reference[n]
                ref_rate = len(strs) / ref_seconds
                seconds, ours = time_hasher(tarcza_hash, strs, n, args.repeat)
                worst = max(hamming(a, b) for a, b in zip(ours, ref_hashes, strict=True))
                scan_dir = linked_copies(Path(tmp), name, paths, args.scan_copies)
                scanned = len(paths) * args.scan_copies
                scan_rate = scanned / time_scan(scan_dir, n, args.repeat)
                count = len(strs)
                rows.append((size, "python-threatexchange pdq_from_file", n, count, ref_rate, None))
                rows.append((size, "tarcza hash_image_bytes", n, count, count / seconds, ref_rate))
                rows.append((size, "tarcza scan (whole pipeline)", n, scanned, scan_rate, ref_rate))
                print(f"  {size}, {n} core(s): largest PDQ distance to the reference: {worst} bits")
    print()
    print(f"{'images':<10} {'hasher':<38} {'cores':>5} {'files':>5} {'images/s':>9} {'vs ref':>7}")
    for size, hasher, n, count, rate, ref_rate in rows:
        ratio = f"{rate / ref_rate:.2f}x" if ref_rate else "1.00x"
        print(f"{size:<10} {hasher:<38} {n:>5} {count:>5} {rate:>9.1f} {ratio:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
