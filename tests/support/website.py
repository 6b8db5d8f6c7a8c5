"""A web server on 127.0.0.1 serving made-up content, for the hotline's trace and monitor tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Website:
    """Paths answer with their bytes, a chosen status, or slowly; every request is noted.

    ``seen`` holds (Host header, path) pairs. A path not served answers 404.
    """

    def __init__(self, bodies: Mapping[str, bytes] | None = None) -> None:
        self.bodies: dict[str, bytes] = dict(bodies or {})
        self.statuses: dict[str, int] = {}
        self.slow: set[str] = set()
        self.seen: list[tuple[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.seen.append((self.headers.get("Host", ""), self.path))
                if self.path in site.slow:
                    time.sleep(1.5)
                status = site.statuses.get(self.path)
                body = site.bodies.get(self.path)
                if status is None and body is None:
                    self.send_error(404)
                    return
                self.send_response(status or 200)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                payload = b"" if status is not None else body or b""
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Website:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def take_down(self, path: str) -> None:
        """The path answers 404 from now on."""
        self.bodies.pop(path, None)
