"""The site takes the image down: the item is removed, and every reporter's status moves.

Three people report one image, each spelling its address differently. After the notice, the
monitor fetches the image (it is online); then the site answers 404. Only after a confirming
check is the item removed; then the public status of each of the three reports — the JSON
API with reference and PIN, and the status page — says something new, and the supervisor's
figures (``GET /api/v1/stats/hotline``) count the removal.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.system.harness import (
    NOTICE_WITHIN,
    REMOVAL_WITHIN,
    Deployment,
    element_text,
    public_status,
    report_by_api,
    sent_text,
    staff,
    status_page_text,
)

pytestmark = [pytest.mark.system, pytest.mark.slow]

PATH = "/gallery/c.png"


def removals(figures: dict[str, Any]) -> int:
    """Removed items in the figures: the time-to-removal sample and the daily series agree."""
    counted: int = figures["time_to_removal"]["count"]
    assert counted == sum(day["removed"] for day in figures["series"]), figures
    return counted


def test_content_taken_down_moves_every_report_naming_it(deployed: Deployment) -> None:
    world = deployed.world
    url = world.url(PATH)
    port = world.website.port
    receipts = [
        report_by_api(deployed.url, url),
        report_by_api(deployed.url, f"HTTP://IMG.EXAMPLE.TEST:{port}{PATH}?utm_source=x&fbclid=1"),
        report_by_api(deployed.url, f"http://img.example.test:{port}/gallery/./c.png#top"),
    ]

    with staff(deployed, "anna") as anna, staff(deployed, "marek") as marek:
        item_id = anna.item_id(url)
        assert f"({len(receipts)})" in anna.item_page(item_id)  # "Reports naming it (3)"
        anna.assess(item_id)
        deployed.wait_until(
            "the item page says the notice was sent",
            lambda: "Wysłane" in sent_text(anna.item_page(item_id)),
            NOTICE_WITHIN,
        )
        # The monitor's first check finds the image online.
        deployed.wait_until(
            f"the monitor fetches {PATH}", lambda: world.fetches_of(PATH), REMOVAL_WITHIN
        )
        assert element_text(anna.item_page(item_id), "item-removed") == ""
        before_api = [public_status(deployed.url, r) for r in receipts]
        before_page = [status_page_text(deployed.url, r) for r in receipts]
        removed_before = removals(marek.hotline_figures())

        world.website.take_down(PATH)
        fetched_at_take_down = world.fetches_of(PATH)
        deployed.wait_until(
            "the item page says the content was removed",
            lambda: element_text(anna.item_page(item_id), "item-removed"),
            REMOVAL_WITHIN,
        )
        # One 404 is not enough: a confirming check saw it gone too.
        assert world.fetches_of(PATH) - fetched_at_take_down >= 2, world.summary()

        after_api = [public_status(deployed.url, r) for r in receipts]
        after_page = [status_page_text(deployed.url, r) for r in receipts]
        figures = marek.hotline_figures()

    for receipt, was, now in zip(receipts, before_api, after_api, strict=True):
        assert now != was, f"{receipt.reference}: the API status stayed {was}"
    for receipt, said, says in zip(receipts, before_page, after_page, strict=True):
        assert says != said, f"{receipt.reference}: the status page still says {said!r}"
    # The three reporters learn the same thing.
    assert len({str({k: v for k, v in a.items() if k != "reference"}) for a in after_api}) == 1
    assert removals(figures) == removed_before + 1
