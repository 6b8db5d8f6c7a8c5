"""A partner platform checks a batch of uploads against the hash bank through a real
``tarcza serve`` (``POST /api/v1/match``): a batch of PDQ hashes (answered before the framework,
``hashing.fast_match``) finds a hash near a banked one and a banked one in another spelling, each
with its label, and not an unknown one; a batch with an MD5 too (the route's) finds that as well.
A signal removed through the CLI is not answered again, at once: every hit is checked against
the database, though the index may still hold it (issue 16)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.system.harness import START_WITHIN, Deployment
from tests.system.test_index_restart import near

pytestmark = [pytest.mark.system, pytest.mark.slow]


def test_a_partner_checks_a_batch_and_a_removed_signal_is_not_answered(
    deployed: Deployment,
) -> None:
    pdqs = [secrets.token_hex(32) for _ in range(3)]
    md5 = secrets.token_hex(16)
    rows = [f"pdq,{p},category-{i}" for i, p in enumerate(pdqs)] + [f"md5,{md5},category-md5"]
    bank_file = deployed.folder / "known.csv"
    bank_file.write_text("signal_type,signal,label\n" + "\n".join(rows) + "\n")
    deployed.cli("bank", "create", "known")
    deployed.cli("bank", "import", "known", str(bank_file), "--format", "csv")
    key = deployed.cli("partner", "add", "chatapp", "--bank", "known").strip().splitlines()[-1]
    pdq_batch = [
        {"signal_type": "pdq", "signal": near(pdqs[0], 6)},
        {"signal_type": "pdq", "signal": secrets.token_hex(32)},
        {"signal_type": "pdq", "signal": pdqs[2].upper()},
    ]

    def matched(signals: list[dict[str, str]]) -> list[list[tuple[Any, ...]]]:
        answer = httpx.post(
            deployed.url + "/api/v1/match",
            json={"signals": signals},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return [
            [(m["bank"], m["label"], m["signal"], m["distance"]) for m in result["matches"]]
            for result in answer.json()["results"]
        ]

    found = deployed.wait_until(
        "the batch finds the imported hashes",
        lambda: (lambda got: got if got[0] and got[2] else None)(matched(pdq_batch)),
        START_WITHIN,
    )
    assert found == [
        [("known", "category-0", pdqs[0], 6)],
        [],
        [("known", "category-2", pdqs[2], 0)],
    ]
    mixed = matched([*pdq_batch[:1], {"signal_type": "md5", "signal": md5}])
    assert mixed == [[("known", "category-0", pdqs[0], 6)], [("known", "category-md5", md5, 0)]]

    deployed.cli("bank", "remove", "known", "pdq", pdqs[0], "--reason", "test")
    assert matched(pdq_batch) == [[], [], [("known", "category-2", pdqs[2], 0)]]
