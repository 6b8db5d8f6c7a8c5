"""System-test fixtures: a made-up outside world and a deployment of each kind.

``deployed`` runs every scenario twice: on SQLite with the default job queue (``tarcza
serve`` alone) and on PostgreSQL + Redis (``tarcza serve`` and ``tarcza jobs worker``).
When a test fails, every process's whole log is printed with its report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.system.harness import Deployment, World, deployment, outside_world, synthetic_png

# The web site's images, one path per scenario so that none depends on another.
IMAGES = {
    "/gallery/a.png": synthetic_png(1),
    "/gallery/b.png": synthetic_png(2),
    "/gallery/c.png": synthetic_png(3),
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so that a fixture's teardown knows the verdict."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(
        getattr(getattr(node, f"report_{phase}", None), "failed", False)
        for phase in ("setup", "call")
    )


@pytest.fixture
def world() -> Iterator[World]:
    """SMTP, DNS and web servers on 127.0.0.1, fresh for each test."""
    with outside_world(IMAGES) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql+redis"])
def deployed(request: pytest.FixtureRequest, world: World, tmp_path: Path) -> Iterator[Deployment]:
    """tarcza installed and running in a temporary folder, on each kind of database."""
    with deployment(request.param, tmp_path, world) as running:
        yield running
        if _failed(request.node):
            print(f"\nLogs of the {running.kind} deployment in {tmp_path}:\n{running.logs(tail=0)}")
