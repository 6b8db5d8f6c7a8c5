"""Browser fixtures: Debian's Chromium driven by Playwright, and a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tarcza.schema import migrate
from tests.support.server import Server, running_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{var_dir / 'tarcza.sqlite3'}"
    migrate.upgrade(url)
    with running_server(url, var_dir) as server:
        yield server
