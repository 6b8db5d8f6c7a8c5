"""``tarcza scan --ray``: the same scan on a local, in-process Ray cluster gives the same output.

Ray is an optional extra (``pip install 'tarcza[scale]'``): without it these tests skip, and in
CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

# Before Ray is imported: make the node's address 127.0.0.1 rather than this machine's network
# address, so every Ray process listens and talks on the loopback interface only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

try:
    ray: ModuleType = importlib.import_module("ray")
except ImportError:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Ray is not installed (pip install '.[scale]'); required when CI=true")
    pytest.skip("Ray is not installed (pip install '.[scale]')", allow_module_level=True)

from tarcza.cli import main
from tarcza.hashing.scan import (
    InProcess,
    RayCluster,
    ScanRecord,
    checkpoint_path,
    scan_tree,
)
from tests.hashing.test_scan import Tree, make_tree


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A two-CPU Ray instance in this process, on 127.0.0.1, without the dashboard."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=100 * 1024 * 1024,
        log_to_driver=False,
    )
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def local_output(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("local") / "results.json"
    scan_tree(tree.root, out, backend=InProcess())
    return out.read_bytes()


def test_ray_scan_gives_the_local_scans_output(
    cluster: None, tree: Tree, local_output: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    summary = scan_tree(tree.root, out, backend=RayCluster(None, batch_size=4))
    assert out.read_bytes() == local_output
    assert summary.hashed == len(tree.images)
    assert ray.is_initialized()  # a cluster the scan joined is left running


def test_ray_scan_resumes_an_interrupted_scan(
    cluster: None, tree: Tree, local_output: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    batches = 0

    def crash_after_two(_records: list[ScanRecord]) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        scan_tree(
            tree.root,
            out,
            backend=RayCluster(None, batch_size=3, workers=2),
            on_batch=crash_after_two,
        )
    recorded = len(checkpoint_path(out).read_text().splitlines()) - 1
    assert recorded == 6
    summary = scan_tree(
        tree.root, out, backend=RayCluster(None, batch_size=3, workers=2), resume=True
    )
    assert summary.resumed == recorded
    assert summary.hashed_now == tree.walked_files - recorded
    assert out.read_bytes() == local_output


def test_command_line_scan_on_ray_writes_the_same_records(
    cluster: None, tree: Tree, local_output: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    assert main(["scan", str(tree.root), "--out", str(out), "--ray", "auto"]) == 0
    assert json.loads(out.read_bytes()) == json.loads(local_output)
