"""The staff API's account side: who is signed in, and the CSRF token to send.

The API authenticates with the same session cookie as the pages (signed in
with the second factor at /staff/login); unsafe methods need the
``X-CSRF-Token`` header, whose value GET /api/v1/staff/me gives.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from tarcza.accounts.access import csrf_token, signed_in
from tarcza.accounts.permissions import AgencyKind, Principal, Role

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])


class StaffMe(BaseModel):
    """The signed-in person."""

    username: str
    agency: str = Field(description="The agency's code")
    agency_kind: AgencyKind
    role: Role
    csrf_token: str = Field(description="Send it as X-CSRF-Token on POST, PUT, PATCH, DELETE")


@router.get(
    "/me",
    responses={401: {"description": "Not signed in, or the second factor is missing"}},
)
def me(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(signed_in())],
) -> StaffMe:
    """Who holds this session, and the CSRF token that goes with it."""
    response.headers["Cache-Control"] = "no-store"
    return StaffMe(
        username=principal.username,
        agency=principal.agency,
        agency_kind=principal.agency_kind,
        role=principal.role,
        csrf_token=csrf_token(request),
    )
