"""From a reported link to content gone, end to end on 127.0.0.1.

A local web server serves synthetic images at several URLs on two host names that a
local DNS server resolves to 127.0.0.1. Reports name them, some twice in different
spellings. The analyst, in the browser, sees them folded into content items and assesses
one; the trace finds 127.0.0.1, local, so this country; the notice reaches a real SMTP
server on 127.0.0.1 and the police get a referral. The web server stops serving the URL;
the monitor records the removal; a supervisor reads the time to removal on the figures
page and from the API.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.app import Application, build
from tarcza.config import Settings
from tarcza.hotline.models import ContentItem, ItemAction
from tarcza.hotline.outbox import item_reference
from tarcza.hotline.tasks import HotlineWork, run_due_once
from tarcza.hotline.trace import Resolver
from tarcza.schema import migrate
from tests.browser.test_staff_flow import sign_in
from tests.support.dns import LocalDns
from tests.support.server import Server, running_server
from tests.support.smtp import CapturingSmtp
from tests.support.staff import StaffUser, add_agencies, add_staff
from tests.support.website import Website

pytestmark = pytest.mark.browser


def synthetic_image(seed: int) -> bytes:
    """A made-up picture: coloured rectangles, different for each seed."""
    img = Image.new("RGB", (200, 150), (30 + seed * 40, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(4):
        draw.rectangle((i * 30 + seed, i * 20, i * 30 + 70, i * 20 + 40), fill=(230, 60 * i, 20))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Hotline:
    server: Server
    ctx: Application
    content: Website
    dns: LocalDns
    smtp: CapturingSmtp
    analyst: StaffUser
    supervisor: StaffUser
    officer: StaffUser


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    var_dir = tmp_path_factory.mktemp("hotline")
    url = f"sqlite:///{var_dir / 'tarcza.sqlite3'}"
    migrate.upgrade(url)
    paths = {"/gallery/a.png": synthetic_image(1), "/gallery/b.png": synthetic_image(2)}
    paths["/c.png"] = synthetic_image(3)
    zone = {"img.example.test": ["127.0.0.1"], "cdn.example.test": ["127.0.0.1"]}
    with Website(paths) as content, LocalDns(zone) as dns, CapturingSmtp() as smtp:
        extra = {
            "TARCZA_DNS_NAMESERVERS": json.dumps([dns.nameserver]),
            "TARCZA_SMTP_HOST": smtp.host,
            "TARCZA_SMTP_PORT": str(smtp.port),
            # Only tests may fetch from 127.0.0.1: the web server is local.
            "TARCZA_MONITOR_ALLOW_PRIVATE": "true",
            "TARCZA_JOBS_URL": "memory",
        }
        with running_server(url, var_dir, **extra) as server:
            settings = Settings(
                var_dir=var_dir,
                database_url=url,
                data_keys=server.env["TARCZA_DATA_KEYS"],
                hmac_key=server.env["TARCZA_HMAC_KEY"],
                dns_nameservers=[dns.nameserver],
                smtp_host=smtp.host,
                smtp_port=smtp.port,
                monitor_allow_private=True,
                jobs_url="memory",
                _env_file=None,  # type: ignore[call-arg]
            )
            ctx = build(settings)
            add_agencies(ctx, ("hotline", "police"))
            yield Hotline(
                server,
                ctx,
                content,
                dns,
                smtp,
                add_staff(ctx, "hotline", Role.ANALYST, "anna-hotline"),
                add_staff(ctx, "hotline", Role.SUPERVISOR, "hania-hotline"),
                add_staff(ctx, "police", Role.OFFICER, "piotr-hotline"),
            )
            ctx.db.dispose()


def notice_statuses(hotline: Hotline, item_id: int) -> set[str]:
    with hotline.ctx.db.sessions() as session:
        return set(
            session.scalars(
                select(ItemAction.status).where(
                    ItemAction.item_id == item_id, ItemAction.action == "notice_and_takedown"
                )
            )
        )


def report(server: Server, *urls: str) -> str:
    body = {"category": "csam", "urls": list(urls), "child_in_danger": False, "language": "pl"}
    answer = httpx.post(server.url + "/api/v1/reports", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def test_from_a_reported_link_to_content_gone(browser: Any, hotline: Hotline) -> None:
    port = hotline.content.port
    a = f"http://img.example.test:{port}/gallery/a.png"
    # Three reports, four links, two of them the same image in other spellings.
    first = report(hotline.server, a, f"http://img.example.test:{port}/gallery/b.png")
    report(hotline.server, f"HTTP://IMG.EXAMPLE.TEST:{port}/gallery/a.png?utm_source=x&fbclid=1")
    report(hotline.server, f"http://cdn.example.test:{port}/c.png", f"{a}#top")

    # The analyst's list: three items; the first image reported by all three reports.
    anna = sign_in(browser, hotline.server, hotline.analyst)
    anna.goto(hotline.server.url + "/staff/items")
    rows = anna.locator("table.queue tbody tr")
    assert rows.count() == 3
    row_a = rows.filter(has_text="/gallery/a.png")
    assert row_a.locator("td").nth(2).inner_text() == "3"

    # Assess it: baseline, image, pre-pubescent, image host.
    row_a.locator("a").click()
    anna.wait_for_selector("#item-url")
    assert anna.locator("#item-url").inner_text() == a
    assert anna.locator("a[href^='http://img.example.test']").count() == 0  # never a link
    anna.get_by_label("Klasyfikacja").select_option("baseline")
    anna.get_by_label("Rodzaj treści").select_option("image")
    anna.get_by_label("Wiek najmłodszego dziecka").select_option("pre_pubescent")
    anna.get_by_label("Rodzaj serwisu").select_option("image_host")
    anna.get_by_role("button", name="Zapisz ocenę").click()
    anna.wait_for_selector("p.flash")

    # The trace found 127.0.0.1, a local address: hosted in this country.
    assert anna.locator("#trace-country").first.inner_text() == "PL"
    assert "127.0.0.1" in anna.locator("section[aria-labelledby=trace-title]").inner_text()
    with hotline.ctx.db.sessions() as session:
        item = session.scalars(select(ContentItem).where(ContentItem.url == a)).one()
        item_id = item.id

    # The notice reached the SMTP server: to the abuse contact, naming the URL.
    notice = hotline.smtp.wait_for(1, timeout=10)[0]
    assert notice["To"] == "abuse@example.test"
    assert item_reference(item_id) in notice["Subject"]
    assert a in notice.get_body().get_content()  # type: ignore[union-attr]
    # The message reaches the server before the outbox records it as sent: wait for the record.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "sent" not in notice_statuses(hotline, item_id):
        time.sleep(0.05)
    anna.reload()
    actions = anna.locator("#item-actions").inner_text()
    assert "Wysłane" in actions and "policj" in actions.lower()

    # The monitor's first check waits the first backoff after the notice, then sees the
    # image (it keeps only its hash).
    settings = hotline.ctx.settings
    jobs = HotlineWork(
        settings, hotline.ctx.db, Resolver(settings.dns_nameservers, settings.dns_timeout_seconds)
    )
    with hotline.ctx.db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.noticed_at is not None
        first_due = item.next_check_at
    assert first_due == item.noticed_at + timedelta(hours=settings.monitor_backoff_hours[0])
    fetched = len(hotline.content.seen)
    run_due_once(jobs, first_due - timedelta(minutes=1))
    assert len(hotline.content.seen) == fetched  # not at once
    run_due_once(jobs, first_due)
    with hotline.ctx.db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "actioned" and item.content_sha256
        due = item.next_check_at
    assert due is not None and due > first_due

    # The provider takes it down; the next check sees it gone, the one after confirms it.
    hotline.content.take_down("/gallery/a.png")
    later = due + timedelta(minutes=1)
    run_due_once(jobs, later)
    with hotline.ctx.db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "actioned" and item.gone_since == later
        confirm_at = item.next_check_at
    anna.reload()
    assert anna.locator("#item-removal-pending").count() == 1
    assert confirm_at is not None
    run_due_once(jobs, confirm_at)
    with hotline.ctx.db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.state == "removed" and item.removed_at == later
        first_reported = item.first_reported_at
    assert all(host.startswith("img.example.test") for host, _ in hotline.content.seen)

    # The analyst sees it removed; a later report about it says so.
    anna.reload()
    assert anna.locator("#item-removed").count() == 1

    # The supervisor reads the time to removal, on the page and from the API.
    hania = sign_in(browser, hotline.server, hotline.supervisor)
    hania.goto(hotline.server.url + "/staff/hotline/stats")
    assert hania.locator("svg[role=img]").count() == 1
    cookies = {c["name"]: c["value"] for c in hania.context.cookies()}
    figures = httpx.get(
        hotline.server.url + "/api/v1/stats/hotline", cookies=cookies, timeout=30
    ).json()
    removal = figures["time_to_removal"]
    assert removal["count"] == 1
    expected = (later - first_reported).total_seconds()
    assert abs(removal["median_seconds"] - expected) < 1
    assert figures["reports_received"] == 3
    assert figures["items_assessed"] == 1
    assert figures["baseline_removed_within_3_days"]["removed_within_3_days"] == 1
    assert first  # the first report's reference was issued
