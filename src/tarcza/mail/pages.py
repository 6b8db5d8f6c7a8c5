"""The development mail catcher's pages: what the notices would have said, sent to nobody.

``GET /staff/mail`` lists the caught messages, newest first; ``GET /staff/mail/{key}`` shows
one as plain text (escaped, inside ``<pre>``: a link in it is text, never a link). For the
hotline's staff (``hotline:item:read`` in the hotline's own agency); anyone else holding the
action finds nothing (404), as with the content items the notices are about.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.errors import NotFound
from tarcza.mail.catcher import CaughtMail, MailCatcher, MailNotFound
from tarcza.web.deps import provided
from tarcza.web.render import render

router = APIRouter(include_in_schema=False)

#: How many messages the list shows (the newest).
LIST_LIMIT = 200


Catcher = Annotated[MailCatcher, Depends(provided(MailCatcher))]
Reader = Annotated[Principal, Depends(require(Action.HOTLINE_ITEM_READ))]


class MailHidden(NotFound):
    """No such message, or not for this person: the page answers 404 either way."""


def _check(principal: Principal, mail: MailCatcher) -> None:
    """The caught notices are the hotline's: other agencies do not see them (404)."""
    own = principal.agency == mail.reader_agency
    if not permits(principal, Action.HOTLINE_ITEM_READ, Relation.OWN if own else Relation.OTHER):
        raise MailHidden()


@router.get("/staff/mail")
async def mail_list(request: Request, mail: Catcher, principal: Reader) -> Response:
    _check(principal, mail)
    rows = await run_in_threadpool(mail.messages, LIST_LIMIT)
    total = await run_in_threadpool(mail.count)
    return render(request, "mail/list.html", {"rows": rows, "total": total})


@router.get("/staff/mail/{key}")
async def mail_message(request: Request, key: str, mail: Catcher, principal: Reader) -> Response:
    _check(principal, mail)
    try:
        message: CaughtMail = await run_in_threadpool(mail.message, key)
    except MailNotFound:
        raise MailHidden() from None
    return render(request, "mail/message.html", {"message": message})
