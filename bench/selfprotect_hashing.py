"""Seconds to hash a 12-megapixel photo in the browser (self-protection) and in tarcza's Python.

Generates one photo-like 4000x3000 JPEG (gradients, shapes, sensor-like noise: synthetic only;
the generator of bench/hashing.py), serves it with /static/selfprotect/hashing.js from 127.0.0.1,
and in Debian's headless Chromium times ``hashFile`` on it ``--runs`` times (MD5 + SHA-256 +
decode + PDQ, what the self-protection page does), with a breakdown of its parts. Side by side,
tarcza's Python hasher (``tarcza.hashing.service.hash_image_bytes``: safe decoding, MD5, SHA-256,
PDQ as the C++ reference) on the same file. Prints p50 and max of each, and the PDQ distance
between the two (target: browser p50 < 1 s, distance 0).

    .venv/bin/python bench/selfprotect_hashing.py [--runs 7] [--width 4000 --height 3000]
"""

from __future__ import annotations

import argparse
import http.server
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def photo(seed: int, width: int, height: int) -> bytes:
    """The photo-like JPEG of bench/hashing.py (loaded by path: bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_hashing", ROOT / "bench" / "hashing.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data: bytes = module.photo(seed, width, height)
    return data


HARNESS = b"""<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
import * as hashing from "/static/selfprotect/hashing.js";
window.hashing = hashing;
window.ready = true;
</script>"""

TIME_IN_PAGE = """async ([url, runs]) => {
  const blob = await (await fetch(url)).blob();
  const file = new File([blob], "photo.jpg", {type: "image/jpeg"});
  const h = window.hashing;
  const whole = [], parts = {md5: [], sha256: [], pdq: []};
  let result = null;
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    result = await h.hashFile(file);
    whole.push(performance.now() - t);
    t = performance.now();
    await h.md5Blob(file);
    parts.md5.push(performance.now() - t);
    const bytes = new Uint8Array(await file.arrayBuffer());
    t = performance.now();
    await h.sha256Bytes(bytes);
    parts.sha256.push(performance.now() - t);
    t = performance.now();
    await h.pdqFromImageBytes(bytes);
    parts.pdq.push(performance.now() - t);
  }
  return {whole, parts, result};
}"""


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    static = ROOT / "src" / "tarcza" / "web" / "static"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path: str) -> str:
            path = path.split("?", 1)[0]
            if path.startswith("/static/"):
                return str(static / path[len("/static/") :])
            return str(folder / path.lstrip("/"))

        def do_GET(self) -> None:
            if self.path == "/harness.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(HARNESS)
                return
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser_times(url: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.support.browser import FLAGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(300_000)
            page.goto(url + "/harness.html")
            page.wait_for_function("window.ready === true")
            page.evaluate(TIME_IN_PAGE, [url + "/photo.jpg", 1])  # warm-up: JIT, decoder
            times: dict[str, Any] = page.evaluate(TIME_IN_PAGE, [url + "/photo.jpg", runs])
            return times
        finally:
            browser.close()


def python_times(data: bytes, runs: int) -> tuple[list[float], str]:
    from tarcza.hashing.service import hash_image_bytes

    hash_image_bytes(data)  # warm imports and caches
    times, pdq = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        pdq = hash_image_bytes(data).pdq or ""
        times.append((time.perf_counter() - start) * 1000)
    return times, pdq


def line(label: str, millis: Sequence[float]) -> str:
    return (
        f"{label:<44} p50 {statistics.median(millis):7.1f} ms   max {max(millis):7.1f} ms"
        f"   (n={len(millis)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)

    from tarcza.hashing.pdq import hamming

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = photo(12, args.width, args.height)
        (folder / "photo.jpg").write_bytes(data)
        megapixels = args.width * args.height / 1e6
        print(f"synthetic photo: {args.width}x{args.height} ({megapixels:.1f} MP), {len(data)} B")
        server = serve(folder)
        try:
            browser = browser_times(f"http://127.0.0.1:{server.server_port}", args.runs)
        finally:
            server.shutdown()
            server.server_close()
    py_times, py_pdq = python_times(data, args.runs)

    print(line("browser hashFile (MD5+SHA-256+decode+PDQ)", browser["whole"]))
    print(line("  of which MD5 (File.slice chunks, JS)", browser["parts"]["md5"]))
    print(line("  of which SHA-256 (crypto.subtle)", browser["parts"]["sha256"]))
    print(line("  of which decode + PDQ", browser["parts"]["pdq"]))
    print(line("python hash_image_bytes (tarcza)", py_times))
    result = browser["result"]
    print(
        f"PDQ browser {result['pdq']} q{result['quality']}; "
        f"distance to tarcza's Python hasher {hamming(result['pdq'], py_pdq)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
