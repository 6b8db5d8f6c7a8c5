"""A restarted ``tarcza serve`` answers partner lookups from the PDQ index it saved, without
rebuilding it from the database; with the saved index damaged it rebuilds and still answers
(issue 16). The server's log says which it did (the ``tarcza.matcher`` lines)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.system.harness import START_WITHIN, Deployment

pytestmark = [pytest.mark.system, pytest.mark.slow]


def near(value: str, bits: int) -> str:
    """``value`` with its first ``bits`` bits inverted."""
    return f"{int(value, 16) ^ (((1 << bits) - 1) << (256 - bits)):064x}"


def last_start(deployed: Deployment) -> str:
    """The server's log since its latest start."""
    text = (deployed.logs_dir / "server.log").read_text(errors="replace")
    return text.rsplit("--- start:", 1)[-1]


def restart(deployed: Deployment) -> None:
    deployed.processes["server"].stop()
    deployed.start_server()


def test_a_restarted_server_answers_from_the_saved_index(deployed: Deployment) -> None:
    signals = [secrets.token_hex(32) for _ in range(3)]
    bank_file = deployed.folder / "known.te"
    bank_file.write_text("\n".join(signals) + "\n")
    deployed.cli("bank", "create", "known")
    deployed.cli("bank", "import", "known", str(bank_file), "--format", "te", "--type", "pdq")
    key = deployed.cli("partner", "add", "chatapp", "--bank", "known").strip().splitlines()[-1]

    def answered() -> list[int]:
        answer = httpx.get(
            deployed.url + "/m/lookup",
            params={"signal_type": "pdq", "signal": near(signals[1], 6)},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return [m["bank_content_id"] for m in answer.json().get("known", [])]

    [signal_id] = deployed.wait_until("the lookup finds the imported hash", answered, START_WITHIN)

    restart(deployed)
    assert answered() == [signal_id]
    log = last_start(deployed)
    assert "loaded the PDQ index" in log and "PDQ index loaded" in log, log
    assert "built the PDQ index" not in log and "saved the PDQ index" not in log, log

    index = deployed.folder / "var" / "index"
    (index / "CURRENT").write_text("not a snapshot\n")
    restart(deployed)
    assert answered() == [signal_id]
    log = last_start(deployed)
    assert "built the PDQ index from the database" in log and "PDQ index built" in log, log
    assert "saved the PDQ index" in log, log

    restart(deployed)  # and the snapshot the rebuild saved is loaded again
    assert answered() == [signal_id]
    log = last_start(deployed)
    assert "PDQ index loaded" in log and "built the PDQ index" not in log, log
