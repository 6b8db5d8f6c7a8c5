"""A partner platform's CyberTipline client reports to tarcza by changing its base URL (issue 15).

The platform's existing client speaks the CyberTipline Reporting API: it checks ``/status``,
submits the report's XML, uploads a (synthetic) picture, describes it and finishes the report;
a second report it opens and retracts. What answers is ``tarcza serve`` as the README starts
it (and ``tarcza jobs worker`` on PostgreSQL + Redis), with the partner added by the CLI.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.system.harness import Deployment, synthetic_png

pytestmark = [pytest.mark.system, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "platforms" / "fixtures"


def _values(response: httpx.Response) -> dict[str, str]:
    root = etree.fromstring(response.content)
    values = {child.tag: child.text or "" for child in root}
    values["_files"] = ",".join(f.text or "" for f in root.iterfind("files/fileId"))
    return values


def test_a_platforms_client_reports_through_ispws(deployed: Deployment) -> None:
    deployed.cli("bank", "create", "known")
    key = deployed.cli("partner", "add", "chatapp", "--bank", "known").strip().splitlines()[-1]
    base = deployed.url + "/ispws"
    before = set((deployed.folder / "var").rglob("*.sealed"))  # the demo's own files
    with httpx.Client(auth=("chatapp", key), timeout=30) as platform:
        status = platform.get(f"{base}/status")
        assert _values(status)["responseDescription"] == "Remote User : chatapp"
        assert httpx.get(f"{base}/status", auth=("chatapp", "wrong")).status_code == 401

        xml = {"Content-Type": "text/xml; charset=utf-8"}
        opened = platform.post(
            f"{base}/submit", content=(FIXTURES / "report_sextortion.xml").read_bytes(), headers=xml
        )
        report_id = _values(opened)["reportId"]
        image = synthetic_png(9)
        uploaded = _values(
            platform.post(
                f"{base}/upload", data={"id": report_id}, files={"file": ("a.png", image)}
            )
        )
        assert uploaded["hash"] == hashlib.md5(image, usedforsecurity=False).hexdigest()
        details = (FIXTURES / "file_details.xml").read_text()
        described = platform.post(
            f"{base}/fileinfo",
            content=details.format(
                report_id=report_id, file_id=uploaded["fileId"], md5=uploaded["hash"]
            ).encode(),
            headers=xml,
        )
        assert _values(described)["responseCode"] == "0"
        done = _values(platform.post(f"{base}/finish", data={"id": report_id}))
        assert (done["responseCode"], done["_files"]) == ("0", uploaded["fileId"])
        state = _values(platform.get(f"{base}/reports/{report_id}"))
        assert state["state"] == "finished" and state["reference"].startswith("TZ-")

        minimal = (FIXTURES / "report_minimal.xml").read_bytes()
        second = _values(platform.post(f"{base}/submit", content=minimal, headers=xml))["reportId"]
        retracting = platform.post(
            f"{base}/upload", data={"id": second}, files={"file": ("b.png", synthetic_png(10))}
        )
        assert _values(retracting)["responseCode"] == "0"
        assert _values(platform.post(f"{base}/retract", data={"id": second}))["responseCode"] == "0"
        gone = platform.get(f"{base}/reports/{second}")
        assert (gone.status_code, _values(gone)["responseCode"]) == (404, "5001")
    new = set((deployed.folder / "var").rglob("*.sealed")) - before
    assert len(new) == 1  # the finished report's picture; the retracted report left nothing
