"""Reports that name the same content, however spelled, fold into one content item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tarcza.accounts.permissions import Role
from tarcza.hotline.models import ContentItem, ItemAction, ItemReport
from tarcza.hotline.monitor import CheckResult
from tarcza.hotline.monitoring import run_check
from tarcza.hotline.schedule import Outcome
from tests.support.staff import add_agencies, add_staff, context, sign_in


def report(client: TestClient, *urls: str) -> str:
    body = {"category": "csam", "urls": list(urls), "language": "pl"}
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def test_spellings_of_one_url_fold_into_one_item_across_reports(client: TestClient) -> None:
    report(client, "HTTPS://Example.COM:443/Gallery/Page?utm_source=x&id=7#top")
    report(client, "https://example.com/Gallery/Page?id=7", "https://example.com/gallery/page?id=7")
    with context(client).db.sessions() as session:
        items = session.scalars(select(ContentItem).order_by(ContentItem.url)).all()
        assert [i.url for i in items] == [
            "https://example.com/Gallery/Page?id=7",
            "https://example.com/gallery/page?id=7",  # path case is kept: another item
        ]
        links = session.scalar(
            select(func.count()).select_from(ItemReport).where(ItemReport.item_id == items[0].id)
        )
        assert links == 2


def test_the_analyst_sees_how_often_an_item_was_reported_and_that_it_was_removed(
    client: TestClient,
) -> None:
    ctx = context(client)
    add_agencies(ctx, ("hotline",))
    sign_in(client, add_staff(ctx, "hotline", Role.ANALYST))
    report(client, "http://example.org/a.jpg")
    with ctx.db.transaction() as session:
        session.execute(
            update(ContentItem).values(
                state="removed", removed_at=datetime(2026, 11, 1, tzinfo=UTC)
            )
        )
    again = report(client, "HTTP://EXAMPLE.ORG/a.jpg#x")
    seen = client.get(f"/api/v1/staff/reports/{again}").json()
    assert seen["items"][0]["reports"] == 2
    assert seen["items"][0]["removed_at"].startswith("2026-11-01")
    page = client.get(f"/staff/reports/{again}")
    assert "już usunięty 2026-11-01" in page.text
    assert "zgłoszony 2 razy" in page.text


def test_a_url_the_hotline_cannot_act_on_stays_on_the_report_only(client: TestClient) -> None:
    report(client, "https://example.net/ok")
    with context(client).db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ContentItem)) == 1


def test_the_item_page_shows_a_removal_waiting_for_its_confirmation_and_a_notice_being_sent(
    client: TestClient,
) -> None:
    ctx = context(client)
    add_agencies(ctx, ("hotline",))
    sign_in(client, add_staff(ctx, "hotline", Role.ANALYST))
    report(client, "http://example.org/gone.jpg")
    seen = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with ctx.db.transaction() as session:
        item = session.scalars(select(ContentItem)).one()
        item.state, item.classification, item.next_check_at = "actioned", "baseline", seen
        session.add(
            ItemAction(
                item_id=item.id,
                action="notice_and_takedown",
                recipient="abuse@example.org",
                status="sending",
                attempt=1,
                created_at=seen - timedelta(hours=2),
            )
        )
        item_id = item.id

    def gone(url: str, baseline: str | None) -> CheckResult:
        return CheckResult(Outcome.GONE, 404, None, None)

    run_check(ctx.db, item_id, gone, [1.0], 3, seen, confirm_hours=4.0)
    page = client.get(f"/staff/items/{item_id}").text
    assert 'id="item-removal-pending"' in page and "2026-11-20 09:30 UTC" in page
    assert "jeszcze niepotwierdzone" in page and "Wysyłane" in page
    assert 'id="item-removed"' not in page
    english = client.get(f"/staff/items/{item_id}", params={"lang": "en"}).text
    assert "Seen gone" in english and "Being sent" in english

    run_check(ctx.db, item_id, gone, [1.0], 3, seen + timedelta(hours=4), confirm_hours=4.0)
    confirmed = client.get(f"/staff/items/{item_id}").text
    assert 'id="item-removal-pending"' not in confirmed
    assert 'id="item-removed">2026-11-20 09:30 UTC' in confirmed
