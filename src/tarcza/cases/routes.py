"""The staff API: the same work as the pages, as JSON, for the same signed-in people.

It authenticates with the staff session cookie; unsafe methods need the
``X-CSRF-Token`` header (GET /api/v1/staff/me tells it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.cases import schemas
from tarcza.cases.evidence_package import EvidencePackages, HeldPackages
from tarcza.cases.service import CaseService, QueueFilter, ReportNotFound, ReportView
from tarcza.intake.rules import Category, Status
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

Cases = Annotated[CaseService, Depends(provided(CaseService))]
Packages = Annotated[EvidencePackages, Depends(provided(EvidencePackages))]
Held = Annotated[HeldPackages, Depends(provided(HeldPackages))]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in, or the second factor is missing"},
    403: {"description": "Your role may not do this, or the CSRF token is missing"},
    404: {"description": "No such report, or not one you may see"},
}
_CHANGE_ERRORS: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    400: {"description": "The body is not JSON"},
    422: {"description": "The change breaks a rule: the field and the reason are given"},
}


def _report_out(view: ReportView) -> schemas.ReportOut:
    data = asdict(view)
    data["relation"] = view.relation.value
    data["allowed"] = sorted(a.value for a in view.allowed)
    data.pop("next_statuses")
    for e in data["evidence"]:
        e["preview_url"] = f"/api/v1/staff/evidence/{e['id']}/preview"
    return schemas.ReportOut.model_validate(data)


@router.get("/reports", responses=_ERRORS)
async def list_queue(
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_QUEUE_LIST))],
    category: Category | None = None,
    status: Status | None = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[schemas.QueueItemOut]:
    """Reports for your agency, highest priority and newest first."""
    wanted = QueueFilter(category=category, status=status, mine=mine)
    items = await run_in_threadpool(cases.queue, principal, wanted, limit)
    return [
        schemas.QueueItemOut.model_validate({**asdict(i), "relation": i.relation.value})
        for i in items
    ]


@router.get("/reports/{reference}", responses=_ERRORS)
async def get_report(
    reference: schemas.Reference,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_SUMMARY_READ))],
) -> schemas.ReportOut:
    """Everything about a report you may see (reading personal data is audited)."""
    return _report_out(await run_in_threadpool(cases.report, principal, reference))


@router.post("/reports/{reference}/status", responses=_CHANGE_ERRORS)
async def change_status(
    reference: schemas.Reference,
    body: schemas.StatusChangeIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_STATUS_CHANGE))],
) -> schemas.ChangedOut:
    """Move the report along the workflow, with a reason."""
    await run_in_threadpool(cases.change_status, principal, reference, body.status, body.reason)
    return schemas.ChangedOut(reference=reference, status=body.status)


@router.post("/reports/{reference}/assignment", status_code=204, responses=_CHANGE_ERRORS)
async def assign(
    reference: schemas.Reference,
    body: schemas.AssignmentIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_ASSIGNMENT_CHANGE))],
) -> Response:
    """Give the report to a colleague of your agency (null: to nobody)."""
    await run_in_threadpool(cases.assign, principal, reference, body.assignee)
    return Response(status_code=204)


@router.post("/reports/{reference}/referrals", status_code=201, responses=_CHANGE_ERRORS)
async def refer(
    reference: schemas.Reference,
    body: schemas.ReferralIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_REFERRAL_CREATE))],
) -> schemas.ReferralCreatedOut:
    """Refer the report to another agency; it accepts or declines."""
    new_id = await run_in_threadpool(cases.refer, principal, reference, body.to_agency, body.reason)
    return schemas.ReferralCreatedOut(id=new_id)


@router.post("/referrals/{referral_id}/answer", status_code=204, responses=_CHANGE_ERRORS)
async def answer_referral(
    referral_id: schemas.RowId,
    body: schemas.ReferralAnswerIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REFERRAL_ANSWER))],
) -> Response:
    """Accept (the report is forwarded to you) or decline a referral to your agency."""
    await run_in_threadpool(cases.answer, principal, referral_id, body.accept, body.reason)
    return Response(status_code=204)


@router.post("/referrals/{referral_id}/withdraw", status_code=204, responses=_CHANGE_ERRORS)
async def withdraw_referral(
    referral_id: schemas.RowId,
    body: schemas.WithdrawalIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_REFERRAL_CREATE))],
) -> Response:
    """Take back a pending or accepted referral of your agency's report: every access that
    came from it ends (referrals the other agency made from it are withdrawn too)."""
    await run_in_threadpool(cases.withdraw, principal, referral_id, body.reason)
    return Response(status_code=204)


@router.get(
    "/evidence/{evidence_id}/preview",
    responses={**_ERRORS, 200: {"content": {"image/png": {}}}},
    response_class=Response,
)
async def evidence_preview(
    evidence_id: schemas.RowId,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PREVIEW_READ))],
) -> Response:
    """A small blurred greyscale PNG (the view is audited)."""
    data = await run_in_threadpool(cases.preview, principal, evidence_id)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/evidence/{evidence_id}/reveal", responses=_CHANGE_ERRORS)
async def reveal(
    evidence_id: schemas.RowId,
    body: schemas.RevealIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_IMAGE_REVEAL))],
) -> schemas.RevealOut:
    """Record why you reveal an image; the answer is a short-lived address of the image."""
    grant = await run_in_threadpool(cases.reveal, principal, evidence_id, body.reason)
    url = f"/staff/evidence/{evidence_id}/image?expires={grant.expires}&sig={grant.signature}"
    return schemas.RevealOut(image_url=url, expires=grant.expires)


@router.post("/reports/{reference}/evidence-package", status_code=201, responses=_CHANGE_ERRORS)
async def export_evidence_package(
    reference: schemas.Reference,
    body: schemas.EvidencePackageIn,
    packages: Packages,
    held: Held,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PACKAGE_EXPORT))],
) -> schemas.EvidencePackageOut:
    """Make the signed, encrypted evidence package of a report referred to your police unit.

    The answer gives the passphrase (this once) and where to download the package (once, for
    15 minutes). The export is audited with the case number and your name.
    """
    made = await run_in_threadpool(packages.export, principal, reference, body.case_number)
    token = await run_in_threadpool(held.put, principal.user_id, made)
    return schemas.EvidencePackageOut(
        passphrase=made.passphrase,
        download_url=f"/api/v1/staff/evidence-packages/{token}",
        filename=made.filename,
        size_bytes=len(made.data),
        sha256=made.sha256,
        manifest_sha256=made.manifest_sha256,
        files=made.files,
    )


@router.get(
    "/evidence-packages/{token}",
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
async def download_evidence_package(
    token: str,
    held: Held,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PACKAGE_EXPORT))],
) -> Response:
    """The encrypted package you made, once (404 afterwards, or for anyone else)."""
    return await run_in_threadpool(package_download, held, principal, token)


def package_download(held: HeldPackages, principal: Principal, token: str) -> Response:
    """The held package as a download, or 404 (also used by the staff pages)."""
    found = held.take(principal.user_id, token)
    if found is None:
        raise ReportNotFound()
    filename, data = found
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


@router.post("/reports/{reference}/outcomes", status_code=201, responses=_CHANGE_ERRORS)
async def record_outcome(
    reference: schemas.Reference,
    body: schemas.OutcomeIn,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REFERRAL_OUTCOME_RECORD))],
) -> schemas.ReferralCreatedOut:
    """Record what your police unit made of a report referred to it (no_action: with reason)."""
    new_id = await run_in_threadpool(
        cases.record_outcome, principal, reference, body.outcome.value, body.reason
    )
    return schemas.ReferralCreatedOut(id=new_id)


@router.get("/stats", responses=_ERRORS)
async def figures(
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
) -> schemas.FiguresOut:
    """Counts only: by status, category, owner agency and referral state."""
    return schemas.FiguresOut.model_validate(await run_in_threadpool(cases.figures, principal))
