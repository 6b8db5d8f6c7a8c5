"""The coordinator's page of national figures: ``GET /staff/national?from=&to=&every=``.

Each table (suppressed: ``<5`` and ``x``) beside its server-drawn SVG chart, with the
table's CSV and JSON links; the same figures as ``GET /api/v1/stats/national``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.cases.pages import LABELS as CASE_LABELS
from tarcza.coordination.charts import chart
from tarcza.coordination.service import CoordinationService
from tarcza.helpline.pages import LABELS as HELPLINE_LABELS
from tarcza.hotline.pages import LABELS as HOTLINE_LABELS
from tarcza.hotline.stats import PeriodRefused
from tarcza.hotline.stats_pages import PERIOD_ERRORS, humane
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Coordination = Annotated[CoordinationService, Depends(provided(CoordinationService))]

EVERY_ERROR = N_("Choose weeks or months.")
# (table, title, what it counts) in the page's order; the sections group them.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (N_("Reports"), (
        ("reports_by_category", N_("Reports by category")),
        ("reports_by_channel", N_("Reports by channel")),
        ("reports_by_age_band", N_("Reports by the child's age")),
        ("child_in_danger", N_("Reports of a child in danger now")),
        ("child_in_danger_acknowledgement",
         N_("Child in danger: time to the duty desk's acknowledgement")),
        ("reports_trend", N_("Reports over the period")),
    )),
    (N_("Hotline"), (
        ("hotline_items", N_("Content items")),
        ("hotline_classification", N_("Content items assessed, by classification")),
        ("hotline_removal", N_("Removal of baseline content items")),
        ("hotline_trend", N_("Content items over the period")),
        ("hosting_countries", N_("Content items by hosting country")),
        ("forwarded_by_country", N_("Forwarded to partner hotlines, by country")),
    )),
    (N_("Hash banks and self-protection"), (
        ("hash_banks", N_("Hash banks: size and matches on evidence")),
        ("partner_feedback", N_("What partner platforms did about matches (copies)")),
        ("self_protection", N_("Self-protection")),
    )),
    (N_("Child helpline"), (
        ("helpline_contacts_by_channel", N_("Helpline contacts by channel")),
        ("helpline_contacts_by_age_band", N_("Helpline contacts by the child's age")),
        ("helpline_contacts_by_topic", N_("Helpline contacts by topic")),
        ("helpline_cases", N_("Helpline cases")),
        ("helpline_trend", N_("Helpline contacts over the period")),
    )),
    (N_("Police and referrals"), (
        ("police_referrals", N_("Referrals to the police, by answer")),
        ("police_acknowledgement", N_("Time to the police's answer")),
        ("police_outcomes", N_("Police outcomes")),
        ("referrals_between_agencies", N_("Referrals between agencies, by answer")),
    )),
)  # fmt: skip
NAMES: dict[str, str] = {
    "current": N_("This period"),
    "previous": N_("Previous period"),
    "total": N_("Total"),
    "count": N_("Answered"),
    "median_seconds": N_("Median"),
    "p90_seconds": N_("90th percentile"),
    "acted_on": N_("Acted on"),
    "removed_within_3_days": N_("Removed within 3 days"),
    "share": N_("Share"),
    "size": N_("Hashes at the end"),
    "size_previous": N_("Hashes at the previous end"),
    "evidence_matches": N_("Matches on evidence"),
    "evidence_matches_previous": N_("Matches on evidence, previous period"),
    "public_form": N_("Public form"),
    "api": N_("Reporting API"),
    "partner_platform": N_("Partner platform"),
    "helpline": N_("Child helpline"),
    "reports": N_("Reports"),
    "child_in_danger": N_("Child in danger now"),
    "reported": N_("reported"),
    "assessed": N_("assessed"),
    "removed": N_("removed"),
    "unclassified": N_("Not classified"),
    "blocked": N_("Upload blocked"),
    "reviewed_kept": N_("Reviewed and kept"),
    "false_positive": N_("Wrong match"),
    "cases_opened": N_("Cases opened"),
    "copies_blocked": N_("Copies stopped by platforms"),
    "opened": N_("Cases opened"),
    "contacts": N_("Contacts"),
    "unknown": N_("not known"),
    "other": N_("Other"),
    "hotline": N_("Hotline"),
    "police": N_("Police"),
    "coordinator": N_("Coordinator"),
    "platform": N_("Partner platform"),
}
# Row labels of the tables whose keys are another concept's codes.
ROW_LABELS = {
    "reports_by_category": CASE_LABELS["category"],
    "reports_by_age_band": CASE_LABELS["age"],
    "police_referrals": CASE_LABELS["referral"],
    "police_outcomes": CASE_LABELS["outcome"],
    "referrals_between_agencies": CASE_LABELS["referral"],
    "hotline_classification": HOTLINE_LABELS["classification"],
    "helpline_contacts_by_channel": HELPLINE_LABELS["channel"],
    "helpline_contacts_by_age_band": HELPLINE_LABELS["age_band"],
    "helpline_contacts_by_topic": HELPLINE_LABELS["topic"],
}


def labeller(table: str, gettext: Callable[[str], str]) -> Callable[[str], str]:
    """Names a row or column key of ``table`` for people; a code without a label stays."""
    rows = ROW_LABELS.get(table, {})

    def label(key: str) -> str:
        if key in rows:
            return gettext(rows[key])
        if key in NAMES:
            return gettext(NAMES[key])
        if "_to_" in key:  # a pair of kinds of agency: "hotline_to_police"
            source, _, target = key.partition("_to_")
            return f"{label(source)} → {label(target)}"
        return key

    return label


@router.get("/staff/national")
async def national_page(
    request: Request,
    coordination: Coordination,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
) -> Response:
    query = request.query_params
    start, end, every = query.get("from"), query.get("to"), query.get("every")
    tr = i18n.translator(page_language(request))
    values: dict[str, Any] = {"start": start or "", "end": end or "", "every": every or "month"}
    try:
        figures = await run_in_threadpool(coordination.figures, principal, start, end, every)
    except PeriodRefused as exc:
        message = (
            EVERY_ERROR
            if exc.field == "every"
            else PERIOD_ERRORS.get(exc.code) or PERIOD_ERRORS[f"{exc.code}-{exc.field}"]
        )
        values["errors"] = {f"period-{exc.field}": tr.gettext(message)}
        return render(request, "national.html", values, status_code=422)
    window = figures.window
    params = {"from": window.current.start.isoformat(), "to": window.current.end.isoformat(),
              "every": window.every.value}  # fmt: skip
    sections = []
    for title, tables in SECTIONS:
        shown = []
        for name, table_title in tables:
            table = figures.table(name)
            label = labeller(name, tr.gettext)
            shown.append({"table": table, "title": table_title, "label": label,
                          "chart": chart(table, label)})  # fmt: skip
        sections.append((title, shown))
    values.update(
        figures=figures,
        window=window,
        sections=sections,
        query=urlencode(params),
        start=params["from"],
        end=params["to"],
        every=params["every"],
        humane=humane,
        errors={},
    )
    return render(request, "national.html", values)
