"""Meta HMA's matching API (``/m/``), answered as HMA answers it.

A platform already calling HMA's matcher can switch to tarcza by changing its base URL: the
query parameters, answers and errors of ``GET /m/raw_lookup``, ``GET /m/lookup``,
``POST /m/lookup`` (an uploaded photo), ``GET /m/index/status`` and ``POST /m/compare`` follow
HMA's (OpenMediaMatch/blueprints/matching.py): booleans in every spelling HMA's models accept,
a 422 with the validation list for a missing or malformed parameter, a 400 with ``message``
for a query HMA refuses, signal types by python-threatexchange's names (``video_md5`` …) and
an exact match's distance as ``"-"``. The key goes in ``Authorization: Bearer``, every call
spends the partner's lookup quota, and only the partner's banks answer. A match that an
allow-list bank suppressed is never listed; the ``X-Tarcza-Suppressed-Matches`` header says
how many there were (a count, nothing else).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import func, select

from tarcza.config import Settings
from tarcza.hashing import banks, pdq
from tarcza.hashing.banks import SignalType
from tarcza.hashing.formats import TE_NAMES
from tarcza.hashing.images import ImageLimits, ImageRejected
from tarcza.hashing.matcher import ItemResult, Match, Matcher, SignalQuery
from tarcza.hashing.models import BankSignal, SignalChange
from tarcza.hashing.partners import PartnerScope
from tarcza.hashing.routes import (
    ERRORS,
    Db,
    Limiter,
    Matching,
    Partner,
    signal_query,
    spend,
    spend_async,
)
from tarcza.hashing.schemas import MatchRequestRejected
from tarcza.hashing.service import FileHashes, hash_image_bytes
from tarcza.web.deps import provided
from tarcza.web.uploads import UploadLimits, read_multipart, upload_slots

hma_router = APIRouter(prefix="/m", tags=["matching (HMA-compatible)"])

SUPPRESSED_HEADER: Final = "X-Tarcza-Suppressed-Matches"
#: python-threatexchange's PDQ_CONFIDENT_MATCH_THRESHOLD, which HMA's compare uses.
COMPARE_PDQ_THRESHOLD: Final = 31
NO_DISTANCE: Final = "-"  # python-threatexchange's distance of an exact (trivial) match
CONTENT_TYPES: Final = ("photo", "video")

SettingsDep = Annotated[Settings, Depends(provided(Settings))]


class HmaProblem(BaseModel):
    """One problem of a request, as HMA's validation list gives it."""

    type: str
    loc: list[str | int]
    msg: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"description": "HMA refuses the query: message says why, detail which parameter."},
    422: {"model": list[HmaProblem], "description": "A parameter is missing or malformed."},
}
_MATCHES_DOC = "bank name → [{bank_content_id, distance}]; distance is '-' for exact hashes."


def _refuse(where: list[str | int], code: str, message: str) -> MatchRequestRejected:
    return MatchRequestRejected([(where, code, message)])


def hma_distance(match: Match) -> str:
    """A match's distance as python-threatexchange prints it (HMA's ``distance``)."""
    if match.signal_type is SignalType.PDQ:
        return str(match.distance)
    if match.signal_type is SignalType.VPDQ:
        return f"{match.query_match_pct or 0:.0f}%[{match.compared_match_pct or 0:.0f}%]"
    return NO_DISTANCE


def partner_banks(partner: PartnerScope, banks_param: str | None) -> frozenset[int]:
    """The ids of the partner's banks a lookup's ``banks`` parameter names (all when none)."""
    if not banks_param:
        return partner.bank_ids
    # Names outside the partner's scope are dropped silently, exactly like unknown names.
    wanted = {name.strip() for name in banks_param.split(",")}
    return frozenset(i for name, i in partner.banks.items() if name in wanted)


def _by_bank(result: ItemResult) -> dict[str, list[dict[str, Any]]]:
    answer: dict[str, list[dict[str, Any]]] = {}
    for m in result.matches:
        answer.setdefault(m.bank, []).append(
            {"bank_content_id": m.signal_id, "distance": hma_distance(m)}
        )
    return answer


def lookup_answer(result: ItemResult) -> bytes:
    """The body of ``GET /m/lookup``'s answer (compact JSON, banks in the order matched)."""
    if not result.matches:
        return b"{}"
    return json.dumps(_by_bank(result), separators=(",", ":")).encode()


def _say_suppressed(response: Response, results: Sequence[ItemResult]) -> None:
    response.headers[SUPPRESSED_HEADER] = str(sum(r.withheld for r in results))


@hma_router.get("/raw_lookup", summary="HMA raw lookup", responses=_ERRORS)
def raw_lookup(
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    response: Response,
    signal: Annotated[str, Query(max_length=20_000)],
    signal_type: Annotated[str, Query(max_length=32)],
    include_distance: bool = False,
    banks_param: Annotated[str | None, Query(alias="banks", max_length=5000)] = None,
) -> dict[str, Any]:
    """HMA's ``{"matches": [id, ...]}``, or with ``include_distance``
    ``{"matches": [{"bank_content_id": id, "distance": "4"}, ...]}``."""
    spend(limiter, partner, 1)
    query = signal_query(signal_type, signal, ["query"])
    result = matcher.match([[query]], scope=partner_banks(partner, banks_param))[0]
    _say_suppressed(response, [result])
    if include_distance:
        return {
            "matches": [
                {"bank_content_id": m.signal_id, "distance": hma_distance(m)}
                for m in result.matches
            ]
        }
    return {"matches": [m.signal_id for m in result.matches]}


@hma_router.get(
    "/lookup",
    summary="HMA lookup",
    responses=_ERRORS,
    description=_MATCHES_DOC,
    response_model=dict[str, list[dict[str, Any]]],
)
async def lookup(
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    signal_type: Annotated[str | None, Query(max_length=32)] = None,
    signal: Annotated[str | None, Query(max_length=20_000)] = None,
    banks_param: Annotated[str | None, Query(alias="banks", max_length=5000)] = None,
    url: Annotated[str | None, Query(max_length=4096)] = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> Response:
    """HMA's ``{"BANK_NAME": [{"bank_content_id": id, "distance": "4"}, ...], ...}``.

    ``seed`` and ``bypass_coinflip`` are accepted and have no effect: every enabled bank
    matches fully here. Looking up by ``url`` is not offered (tarcza fetches nothing).

    The hot path of the API: on the event loop, with no database round trip when the key's
    scope is remembered, the lease holds units and the matcher answers from memory (see
    ``Matcher.match_in_memory``); else one hop to a worker thread for what needs the database.
    Most are answered before FastAPI even sees them (``tarcza.hashing.fast_lookup``).

    Staleness: the key's scope, and a hit's signal, bank and threshold, are at most
    ``TARCZA_LOOKUP_STALENESS_SECONDS`` old (1 s by default): a signal removed, or a bank
    disabled, is no longer answered after that bound.
    """
    if url:
        message = "url lookups are not offered: send signal_type and signal"
        raise _refuse(["query", "url"], "unsupported", message)
    if not signal or not signal_type:
        message = "Either url or both signal and signal_type are required"
        raise _refuse(["query", "signal" if not signal else "signal_type"], "missing", message)
    await spend_async(limiter, partner, 1)
    items = [[signal_query(signal_type, signal, ["query"])]]
    scope = partner_banks(partner, banks_param)
    results = matcher.match_in_memory(items, scope=scope)
    if results is None:
        results = await anyio.to_thread.run_sync(
            functools.partial(matcher.match, items, scope=scope)
        )
    headers = {SUPPRESSED_HEADER: str(results[0].withheld)}
    return Response(lookup_answer(results[0]), media_type="application/json", headers=headers)


# -- a lookup by uploaded photo ----------------------------------------------------------------


class _MemorySink:
    """Keeps one uploaded file in memory (read_multipart bounds its size)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes) -> None:
        self._data.extend(data)

    def finish(self) -> bytes:
        return bytes(self._data)

    def abort(self) -> None:
        self._data.clear()


@dataclass(frozen=True)
class _Upload:
    content_type: str
    data: bytes


async def _one_upload(request: Request, settings: Settings) -> _Upload:
    missing = _refuse(["body"], "missing", "Missing multipart/form-data file upload")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise missing
    limits = UploadLimits(
        max_files=2,  # a second file is read only to refuse the request
        max_fields=10,
        max_field_bytes=1000,
        max_file_bytes=settings.max_file_bytes,
    )
    async with upload_slots(request).hold():
        form = await read_multipart(request, lambda *_: _MemorySink(), limits)
    if not form.files:
        raise missing
    if len(form.files) > 1:
        raise _refuse(["body"], "too_many_files", "Only one file allowed per request")
    part = form.files[0]
    if part.name not in CONTENT_TYPES:
        raise _refuse(["body", part.name], "unknown", f"no such content_type: '{part.name}'")
    if part.name != "photo":
        message = "only photos are hashed here: send a video's vpdq signal to GET /m/lookup"
        raise _refuse(["body", part.name], "unsupported", message)
    return _Upload(part.name, part.result or b"")


def _photo_queries(hashes: FileHashes) -> dict[str, SignalQuery | None]:
    useful = hashes.pdq is not None and (hashes.pdq_quality or 0) >= pdq.MIN_USEFUL_QUALITY
    return {
        TE_NAMES[SignalType.PDQ]: SignalQuery(SignalType.PDQ, hashes.pdq or "") if useful else None,
        TE_NAMES[SignalType.MD5]: SignalQuery(SignalType.MD5, hashes.md5),
        TE_NAMES[SignalType.SHA256]: SignalQuery(SignalType.SHA256, hashes.sha256),
    }


def _match_photo(
    matcher: Matcher, hashes: FileHashes, scope: frozenset[int]
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], list[ItemResult]]:
    queries = _photo_queries(hashes)
    asked = [(name, q) for name, q in queries.items() if q is not None]
    results = matcher.match([[q] for _, q in asked], scope=scope)
    answer: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in queries}
    for (name, _), result in zip(asked, results, strict=True):
        answer[name] = _by_bank(result)
    return answer, results


@hma_router.post(
    "/lookup",
    summary="HMA lookup of an uploaded photo",
    description="multipart/form-data with one file part named `photo`. Answers "
    "{signal_type: {bank name: [{bank_content_id, distance}]}}.",
    responses={**_ERRORS, 413: {"description": "The file is larger than the limit."}},
)
async def lookup_upload(
    request: Request,
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    settings: SettingsDep,
    response: Response,
    banks_param: Annotated[str | None, Query(alias="banks", max_length=5000)] = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Hash the uploaded photo with tarcza's hashers (MD5, SHA-256, PDQ) and look each up."""
    spend(limiter, partner, 1)
    upload = await _one_upload(request, settings)
    limits = ImageLimits(max_bytes=settings.max_file_bytes)
    try:
        hashes = await anyio.to_thread.run_sync(hash_image_bytes, upload.data, limits)
    except ImageRejected as exc:
        raise _refuse(["body", upload.content_type], exc.code, exc.message) from None
    scope = partner_banks(partner, banks_param)
    answer, results = await anyio.to_thread.run_sync(_match_photo, matcher, hashes, scope)
    _say_suppressed(response, results)
    return answer


# -- the index status and comparing hashes ------------------------------------------------------


def _status_types(signal_type: str | None) -> list[SignalType]:
    if signal_type is None:
        return list(SignalType)
    try:
        return [banks.parse_signal_type(signal_type)]
    except banks.InvalidSignal:
        message = f"No such signal type '{signal_type}'"
        raise _refuse(["query", "signal_type"], "unknown_signal_type", message) from None


@hma_router.get(
    "/index/status",
    summary="HMA index status",
    description="signal type → {present, built_to (Unix time of the last change the index "
    "holds, -1 if none), size (signals of that type in this key's banks)}.",
    responses=_ERRORS,
)
def index_status(
    db: Db,
    partner: Partner,
    matcher: Matching,
    limiter: Limiter,
    signal_type: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, dict[str, Any]]:
    """HMA's ``{"pdq": {"present": true, "built_to": 1700146048, "size": 591}, ...}``."""
    kinds = _status_types(signal_type)
    spend(limiter, partner, 1)
    if not matcher.refreshing:
        matcher.catch_up()
    with db.reading() as session:
        sizes = dict(
            session.execute(
                select(BankSignal.signal_type, func.count())
                .where(
                    BankSignal.bank_id.in_(list(partner.bank_ids)),
                    BankSignal.removed_at.is_(None),
                )
                .group_by(BankSignal.signal_type)
            ).all()
        )
        last = session.scalar(
            select(SignalChange.created_at).where(SignalChange.seq == matcher.applied_seq)
        )
    built_to = int(last.timestamp()) if last is not None else -1
    return {
        TE_NAMES[kind]: {"present": True, "built_to": built_to, "size": int(sizes.get(kind, 0))}
        for kind in kinds
    }


_COMPARE_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "string", "maxLength": 200},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    "maxProperties": 8,
                    "example": {"pdq": ["facd8b…", "facd8a…"]},
                }
            }
        }
    }
}


def compare_pair(name: str, pair: object) -> list[Any]:
    """HMA's ``[match, {"distance": d}]`` for one signal type's two hashes (or a refusal)."""
    where: list[str | int] = ["body", name]
    if not isinstance(pair, list):
        raise _refuse(where, "not_a_list", f"Comparison hashes for {name} was not a list")
    if len(pair) != 2:
        raise _refuse(where, "wrong_length", "Comparison hash list length must be exactly 2")
    try:
        kind = banks.parse_signal_type(name)
    except banks.InvalidSignal:
        raise _refuse(where, "unknown_signal_type", f"No such SignalType '{name}'") from None
    if kind is SignalType.VPDQ:
        raise _refuse(where, "unsupported", f"{name} does not support hash comparison here")
    try:
        left, right = (banks.normalise_signal(kind, str(v)) for v in pair)
    except banks.InvalidSignal as exc:
        raise _refuse(where, exc.code, f"Invalid {name} hash: {exc.message}") from None
    if kind is SignalType.PDQ:
        distance = pdq.hamming(left, right)
        return [distance <= COMPARE_PDQ_THRESHOLD, {"distance": distance}]
    return [left == right, {}]


@hma_router.post(
    "/compare",
    summary="HMA compare",
    description="{signal_type: [hash, hash]} → {signal_type: [match, {distance}]}.",
    responses=_ERRORS,
    openapi_extra=_COMPARE_BODY,
)
async def compare(request: Request, partner: Partner, limiter: Limiter) -> dict[str, list[Any]]:
    """Compare pairs of hashes: PDQ by Hamming distance (a match within 31), others exactly."""
    spend(limiter, partner, 1)
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _refuse(["body"], "malformed_json", "The body is not JSON") from None
    if not isinstance(body, dict):
        raise _refuse(["body"], "not_a_dict", "Request input was not a dict")
    return {name: compare_pair(name, pair) for name, pair in body.items()}
