"""The decode pixel budget: never more pixels being decoded at once than the budget allows."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from tarcza.hashing import service
from tarcza.hashing.budget import DECODE_BUDGET, PixelBudget
from tarcza.hashing.images import ImageLimits, ImageRejected
from tarcza.hashing.service import digests_of, hash_image_bytes, hash_image_file


def png(width: int, height: int, seed: int = 0) -> bytes:
    img = Image.new("RGB", (width, height), (seed * 37 % 256, 90, 160))
    img.paste((250, 20, seed % 256), (0, 0, width // 3, height // 2))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


class Watch:
    """Counts the pixels inside the decoder at once (the decode is slowed to overlap)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    watched = Watch()
    real = service.decode

    def slow_decode(img: Image.Image, limits: ImageLimits) -> None:
        pixels = img.size[0] * img.size[1]
        with watched.lock:
            watched.now += pixels
            watched.peak = max(watched.peak, watched.now)
        try:
            time.sleep(0.02)
            real(img, limits)
        finally:
            with watched.lock:
                watched.now -= pixels

    monkeypatch.setattr(service, "decode", slow_decode)
    yield watched


def test_concurrent_decodes_never_hold_more_pixels_than_the_budget(watch: Watch) -> None:
    budget = PixelBudget(100_000)
    images = [png(200 + 20 * (i % 5), 150 + 10 * (i % 3), i) for i in range(24)]  # 30-50 kpx

    def one(data: bytes) -> str | None:
        return hash_image_file(io.BytesIO(data), digests_of(data), budget=budget).pdq

    with ThreadPoolExecutor(max_workers=12) as pool:
        hashes = list(pool.map(one, images))

    assert watch.peak <= 100_000
    assert watch.peak > 50_000  # more than one image did decode at once
    assert budget.held == 0 and budget.peak <= 100_000
    assert hashes == [hash_image_bytes(data).pdq for data in images]


def test_without_a_budget_the_same_load_goes_over_it(watch: Watch) -> None:
    """The check above can fail: with a budget too large to bind, the decodes overlap more."""
    budget = PixelBudget(10**12)
    images = [png(220, 180, i) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(lambda d: hash_image_file(io.BytesIO(d), digests_of(d), budget=budget), images)
        )
    assert watch.peak > 100_000


def test_an_image_larger_than_the_budget_decodes_alone(watch: Watch) -> None:
    budget = PixelBudget(10_000)
    data = png(300, 200)
    hashes = hash_image_file(io.BytesIO(data), digests_of(data), budget=budget)
    assert (hashes.width, hashes.height) == (300, 200)
    assert budget.peak == 10_000 and budget.held == 0


def test_an_image_over_the_pixel_limit_is_refused_before_taking_the_budget() -> None:
    budget = PixelBudget(1_000_000)
    bomb = Image.new("1", (4_000, 3_000))
    out = io.BytesIO()
    bomb.save(out, format="PNG")
    data = out.getvalue()
    with pytest.raises(ImageRejected) as caught:
        hash_image_file(
            io.BytesIO(data), digests_of(data), ImageLimits(max_pixels=10_000_000), budget
        )
    assert caught.value.code == "too_many_pixels"
    assert budget.peak == 0


def test_a_damaged_image_gives_its_pixels_back() -> None:
    budget = PixelBudget(1_000_000)
    data = png(400, 300)
    cut = data[: len(data) // 2]
    with pytest.raises(ImageRejected):
        hash_image_file(io.BytesIO(cut), digests_of(cut), budget=budget)
    assert budget.held == 0 and budget.peak == 400 * 300


def test_waiters_are_served_in_arrival_order() -> None:
    budget = PixelBudget(100)
    order: list[str] = []
    first = budget.acquire(100)
    started = []

    def wait(name: str, pixels: int) -> None:
        started.append(name)
        with budget.hold(pixels):
            order.append(name)

    big = threading.Thread(target=wait, args=("big", 90))
    big.start()
    while "big" not in started:
        time.sleep(0.001)
    time.sleep(0.05)
    small = threading.Thread(target=wait, args=("small", 5))
    small.start()
    time.sleep(0.05)
    assert order == []  # the small one does not overtake the big one that came first
    budget.release(first)
    big.join(5)
    small.join(5)
    assert order == ["big", "small"]


def test_the_composition_root_sets_the_process_budget(tmp_path: Path) -> None:
    from tarcza.app import build
    from tarcza.config import Settings
    from tests.support.keys import HMAC_KEY, KEY_A

    before = DECODE_BUDGET.capacity
    try:
        build(
            Settings(
                var_dir=tmp_path,
                data_keys=f"k1:{KEY_A}",
                hmac_key=HMAC_KEY,
                decode_pixel_budget=1234,
                _env_file=None,  # type: ignore[call-arg]
            )
        ).close()
        assert DECODE_BUDGET.capacity == 1234
    finally:
        DECODE_BUDGET.resize(before)
