"""Keyed hashes are HMAC-SHA256 of ``purpose | 0 | value`` under the HMAC key: stored hashes
(PINs, throttles, rate counts, idempotency keys) stay valid across restarts and versions."""

from __future__ import annotations

import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

from tarcza.config import Keys
from tarcza.crypto import KeyRing

HMAC_KEY = bytes(range(32, 64))


def _ring() -> KeyRing:
    return KeyRing(Keys(data_keys={"k1": bytes(32)}, current_key_id="k1", hmac_key=HMAC_KEY))


def _expected(purpose: str, value: str) -> str:
    message = purpose.encode() + b"\x00" + value.encode("utf-8")
    return hmac.new(HMAC_KEY, message, hashlib.sha256).hexdigest()


def test_a_keyed_hash_is_the_hmac_of_purpose_and_value() -> None:
    ring = _ring()
    for purpose, value in [("pin", "TZ-7K2M-9QXP:493027"), ("pin", "other"), ("rate", "zażółć")]:
        assert ring.keyed_hash(purpose, value) == _expected(purpose, value)
        assert ring.keyed_hash(purpose, value) == _expected(purpose, value)  # again, kept state


def test_many_purposes_and_threads_give_the_same_hashes() -> None:
    ring = _ring()
    cases = [(f"access-log:2026-12-{d:03d}", f"10.0.0.{d % 7}") for d in range(300)]

    def hashes(_: int) -> list[str]:
        return [ring.keyed_hash(p, v) for p, v in cases]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(hashes, range(8)))
    expected = [_expected(p, v) for p, v in cases]
    assert all(result == expected for result in results)
