"""The analyst's assessment of content items, through the staff pages, on both databases.

Reports name URLs on a host that a local DNS server resolves to 127.0.0.1; the analyst
assesses an item; the trace finds the address local (this country), so the rules ask for
notice-and-takedown to the abuse contact and a referral to the police; the notice goes to
a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings
from tarcza.hashing import bank_service
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hotline import outbox, rules
from tarcza.hotline.models import ContentItem, ItemAction, ItemAssessment
from tarcza.store.base import utcnow
from tests.cases.test_casework_api import synthetic_png
from tests.support.dns import LocalDns
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.smtp import CapturingSmtp
from tests.support.staff import StaffUser, add_agencies, add_staff, context, sign_in

HOST = "img.example.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[LocalDns]:
    zone = {
        HOST: ["127.0.0.1"],
        "partner.example.test": ["8.8.8.8"],  # US: a partner hotline works there
        "abroad.example.test": ["200.147.67.142"],  # BR: no partner in the directory
    }
    with LocalDns(zone) as server:
        yield server


@pytest.fixture(scope="module")
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, dns: LocalDns, smtp: CapturingSmtp) -> Settings:
    return Settings(
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        dns_nameservers=[dns.nameserver],
        dns_timeout_seconds=2.0,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        jobs_url="memory",
        _env_file=None,  # type: ignore[call-arg]
    )


class Analyst:
    """One signed-in person with their own cookie jar."""

    def __init__(self, client: TestClient, user: StaffUser) -> None:
        self.client = TestClient(client.app, base_url="http://127.0.0.1")
        self.csrf = sign_in(self.client, user)

    def assess(self, item_id: int, **choices: str) -> object:
        form = {"csrf": self.csrf, **choices}
        return self.client.post(f"/staff/items/{item_id}/assess", data=form, follow_redirects=False)


BASELINE = {
    "classification": "baseline",
    "content_type": "image",
    "age_group": "pre_pubescent",
    "site_type": "image_host",
}
NOT_ILLEGAL = {**BASELINE, "classification": "not_illegal", "age_group": "pubescent"}


@pytest.fixture
def people(client: TestClient) -> dict[str, Analyst]:
    ctx = context(client)
    add_agencies(ctx)
    return {
        name: Analyst(client, add_staff(ctx, agency, role, name))
        for name, agency, role in [
            ("anna", "hotline", Role.ANALYST),
            ("bartek", "hotline", Role.ANALYST),
            ("hania", "hotline", Role.SUPERVISOR),
            ("piotr", "police", Role.OFFICER),
            ("paula", "police", Role.SUPERVISOR),
        ]
    }


def report(client: TestClient, *urls: str, files: list[bytes] | None = None) -> str:
    body = {"category": "csam", "urls": list(urls), "child_in_danger": False, "language": "pl"}
    if files:
        parts = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(files)]
        answer = client.post("/api/v1/reports", data={"report": json.dumps(body)}, files=parts)
    else:
        answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def item_ids(client: TestClient) -> dict[str, int]:
    with context(client).db.sessions() as session:
        return {url: i for i, url in session.execute(select(ContentItem.id, ContentItem.url))}


def test_the_items_list_folds_respellings_and_counts_reports(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/gallery/a.png")
    report(client, "HTTP://IMG.example.test:80/gallery/a.png?utm_source=chat")
    report(client, f"http://{HOST}/gallery/b.png")
    page = people["anna"].client.get("/staff/items")
    assert page.status_code == 200
    assert page.text.count("/staff/items/") == 2
    ids = item_ids(client)
    assert set(ids) == {f"http://{HOST}/gallery/a.png", f"http://{HOST}/gallery/b.png"}
    one = people["anna"].client.get(f"/staff/items/{ids[f'http://{HOST}/gallery/a.png']}")
    assert "Zgłoszenia, które go wskazują</h3>" in one.text or "(2)" in one.text
    assert one.text.count("/staff/reports/TZ-") == 2


def test_baseline_at_home_sends_a_notice_and_refers_to_the_police(
    client: TestClient, people: dict[str, Analyst], smtp: CapturingSmtp
) -> None:
    reference = report(client, f"http://{HOST}/gallery/a.png")
    item_id = item_ids(client)[f"http://{HOST}/gallery/a.png"]
    before = len(smtp.messages)

    answer = people["anna"].assess(item_id, **BASELINE)
    assert answer.status_code == 303  # type: ignore[attr-defined]

    page = people["anna"].client.get(f"/staff/items/{item_id}").text
    assert 'id="trace-country">PL<' in page
    assert "127.0.0.1" in page
    ctx = context(client)
    outbox.send_pending(ctx.db, ctx.settings, utcnow())  # the job does this after the commit
    message = smtp.wait_for(before + 1)[-1]
    assert message["To"] == "abuse@example.test"
    assert f"http://{HOST}/gallery/a.png" in message.get_body().get_content()  # type: ignore[union-attr]
    assert outbox.item_reference(item_id) in message["Subject"]
    with ctx.db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "actioned" and item.noticed_at is not None
        assert item.next_check_at is not None
        kinds = {
            (a.action, a.status)
            for a in session.scalars(select(ItemAction).where(ItemAction.item_id == item_id))
        }
        audited = set(session.scalars(select(AuditEntry.action)))
    assert kinds == {("notice_and_takedown", "sent"), ("refer_police", "recorded")}
    assert {"hotline.item.assessed", "hotline.notice.sent", "report.referred"} <= audited
    # The police now see the hotline's report in their work.
    assert people["piotr"].client.get(f"/staff/reports/{reference}").status_code == 200


def test_not_illegal_waits_for_a_second_analyst(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/family/beach.png")
    item_id = item_ids(client)[f"http://{HOST}/family/beach.png"]
    assert people["anna"].assess(item_id, **NOT_ILLEGAL).status_code == 303  # type: ignore[attr-defined]
    page = people["bartek"].client.get(f"/staff/items/{item_id}").text
    assert 'id="review-note"' in page and "anna" in page

    again = people["anna"].assess(item_id, **NOT_ILLEGAL)
    assert again.status_code == 422  # type: ignore[attr-defined]
    assert "Inny analityk" in again.text  # type: ignore[attr-defined]

    assert people["bartek"].assess(item_id, **NOT_ILLEGAL).status_code == 303  # type: ignore[attr-defined]
    with context(client).db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "closed"
        assert item.classification == "not_illegal" and item.next_check_at is None


def test_a_reviewer_who_disagrees_takes_the_actions(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/x/1.png")
    item_id = item_ids(client)[f"http://{HOST}/x/1.png"]
    people["anna"].assess(item_id, **NOT_ILLEGAL)
    assert people["bartek"].assess(item_id, **BASELINE).status_code == 303  # type: ignore[attr-defined]
    with context(client).db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and (item.state, item.classification) == ("actioned", "baseline")


def test_contradictions_and_unknown_choices_are_refused_in_polish(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/y.png")
    item_id = item_ids(client)[f"http://{HOST}/y.png"]
    text_baseline = people["anna"].assess(item_id, **{**BASELINE, "content_type": "text"})
    assert text_baseline.status_code == 422  # type: ignore[attr-defined]
    assert 'id="assess-content_type-error"' in text_baseline.text  # type: ignore[attr-defined]
    assert "Materiał bazowy" in text_baseline.text  # type: ignore[attr-defined]
    # The analyst's choices are kept in the form.
    assert re.search(r'value="text" selected', text_baseline.text)  # type: ignore[attr-defined]

    unknown = people["anna"].assess(item_id, **{**BASELINE, "site_type": "darknet"})
    assert unknown.status_code == 422  # type: ignore[attr-defined]
    assert 'id="assess-site_type-error"' in unknown.text  # type: ignore[attr-defined]
    with context(client).db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "open"


def test_an_assessed_item_cannot_be_assessed_again(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/z.png")
    item_id = item_ids(client)[f"http://{HOST}/z.png"]
    people["anna"].assess(item_id, **BASELINE)
    second = people["bartek"].assess(item_id, **NOT_ILLEGAL)
    assert second.status_code == 422  # type: ignore[attr-defined]


def test_only_the_hotline_sees_content_items(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, f"http://{HOST}/q.png")
    item_id = item_ids(client)[f"http://{HOST}/q.png"]
    # An officer holds no item permission at all; a police supervisor holds it, for the
    # hotline's own items only: to them the item does not exist.
    assert people["piotr"].client.get("/staff/items").status_code == 403
    assert people["paula"].client.get(f"/staff/items/{item_id}").status_code == 404
    assert people["paula"].assess(item_id, **BASELINE).status_code == 404  # type: ignore[attr-defined]
    assert people["hania"].client.get(f"/staff/items/{item_id}").status_code == 200
    assert people["anna"].client.get("/staff/items/999999").status_code == 404
    anonymous = TestClient(client.app, base_url="http://127.0.0.1")
    assert anonymous.get(f"/staff/items/{item_id}", follow_redirects=False).status_code in (
        303,
        401,
    )


def test_hosted_in_a_partner_country_the_report_goes_to_that_hotline(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, "http://partner.example.test/p.png")
    item_id = item_ids(client)["http://partner.example.test/p.png"]
    people["anna"].assess(item_id, **BASELINE)
    with context(client).db.sessions() as session:
        actions = session.scalars(select(ItemAction).where(ItemAction.item_id == item_id)).all()
    partner = rules.default_partner_directory().for_country("US")
    assert partner is not None
    assert [(a.action, a.recipient, a.language) for a in actions] == [
        ("forward_partner_hotline", partner.email, "en")
    ]


def test_hosted_abroad_without_a_partner_the_provider_is_told_in_english(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    report(client, "http://abroad.example.test/p.png")
    item_id = item_ids(client)["http://abroad.example.test/p.png"]
    people["anna"].assess(item_id, **BASELINE)
    with context(client).db.sessions() as session:
        actions = session.scalars(select(ItemAction).where(ItemAction.item_id == item_id)).all()
    assert [(a.action, a.recipient, a.language) for a in actions] == [
        ("notice_provider", "abuse@example.test", "en")
    ]


def test_an_item_the_bank_knows_is_preclassified_and_says_so(
    client: TestClient, people: dict[str, Analyst]
) -> None:
    image = synthetic_png((10, 200, 90))
    ctx = context(client)
    with ctx.db.transaction() as session:
        bank_service.create_bank(session, "known", actor="test", now=utcnow())
        bank_service.add_signals(
            session,
            "known",
            [Entry(SignalType.SHA256, hashlib.sha256(image).hexdigest(), "baseline")],
            actor="test",
            now=utcnow(),
        )
    report(client, f"http://{HOST}/known.png", files=[image])
    item_id = item_ids(client)[f"http://{HOST}/known.png"]
    page = people["anna"].client.get(f"/staff/items/{item_id}").text
    assert 'id="bank-hints"' in page and "known" in page
    assert 'value="baseline" selected' in page
    people["anna"].assess(item_id, **BASELINE)
    with ctx.db.sessions() as session:
        labels = session.scalars(
            select(ItemAssessment.bank_label).where(ItemAssessment.item_id == item_id)
        ).all()
    assert labels == ["baseline"]
