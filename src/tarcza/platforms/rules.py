"""The CyberTipline Reporting API's shape, as tarcza speaks it (pure: no web, no database).

A platform's XML is parsed by a hardened parser (no DTD, no entities, no network, no huge
trees), refused when it declares a DOCTYPE, and checked against tarcza's own schema
(``data/ispws.xsd``); then the parts tarcza acts on are read into a :class:`PartnerReport`.
Answers are written in the API's ``reportResponse`` / ``reportDoneResponse`` shapes with its
response codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

#: Largest XML body taken (a report or a file's details).
MAX_XML_BYTES = 1024 * 1024
#: What each partner report's evidence files may be called in errors ("file[<fileId>]").
FILE_FIELD = "file[{file_id}]"

_DANGER_DOCTYPE = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")


class Code(IntEnum):
    """The API's response codes (those tarcza answers)."""

    SUCCESS = 0
    SERVER_ERROR = 1000
    AUTHENTICATION_REQUIRED = 2000
    INVALID_REQUEST = 4000
    VALIDATION_FAILED = 4100
    MALFORMED_FILE = 4110
    REPORT_DOES_NOT_EXIST = 5001
    REPORT_ALREADY_FINISHED = 5102


DESCRIPTIONS = {
    Code.SUCCESS: "Success",
    Code.SERVER_ERROR: "Server error",
    Code.AUTHENTICATION_REQUIRED: "Authentication required",
    Code.INVALID_REQUEST: "Invalid request",
    Code.VALIDATION_FAILED: "Validation failed",
    Code.MALFORMED_FILE: "Malformed or unsupported file",
    Code.REPORT_DOES_NOT_EXIST: "Report does not exist",
    Code.REPORT_ALREADY_FINISHED: "Report already finished",
}


class IspwsRefused(Exception):
    """A request the API answers with ``code`` (and ``detail``, said after the description)."""

    def __init__(self, code: Code, detail: str = "") -> None:
        super().__init__(detail or DESCRIPTIONS[code])
        self.code = code
        self.detail = detail

    @property
    def description(self) -> str:
        base = DESCRIPTIONS[self.code]
        return f"{base}: {self.detail}" if self.detail else base


# -- reading ------------------------------------------------------------------------------


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@cache
def schema_text() -> bytes:
    """tarcza's XSD for what /ispws accepts (served at /ispws/xsd)."""
    return resources.files("tarcza.platforms").joinpath("data/ispws.xsd").read_bytes()


@cache
def _schema() -> Any:
    return etree.XMLSchema(etree.fromstring(schema_text(), _parser()))


def parse(raw: bytes, root: str) -> Any:
    """The document in ``raw``, checked against the schema; its root must be ``root``.

    IspwsRefused (VALIDATION_FAILED) for a body too large, a DOCTYPE or entity declaration,
    XML that is not well formed, another root or anything the schema refuses.
    """
    if len(raw) > MAX_XML_BYTES:
        raise IspwsRefused(Code.VALIDATION_FAILED, f"the XML is larger than {MAX_XML_BYTES} bytes")
    if not raw.strip():
        raise IspwsRefused(Code.VALIDATION_FAILED, "the body is empty: send the XML")
    if any(marker in raw for marker in _DANGER_DOCTYPE):
        raise IspwsRefused(Code.VALIDATION_FAILED, "a DOCTYPE or an entity is not accepted")
    try:
        doc = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise IspwsRefused(Code.VALIDATION_FAILED, f"malformed XML ({exc.msg})") from None
    tree = doc.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise IspwsRefused(Code.VALIDATION_FAILED, "a DOCTYPE or an entity is not accepted")
    if doc.tag != root:
        raise IspwsRefused(Code.VALIDATION_FAILED, f"the root element must be <{root}>")
    schema = _schema()
    if not schema.validate(doc):
        error = next(iter(schema.error_log), None)
        where = f"line {error.line}: " if error is not None else ""
        message = error.message if error is not None else "does not match the schema"
        raise IspwsRefused(Code.VALIDATION_FAILED, f"{where}{message}")
    return doc


def _text(node: Any, path: str) -> str:
    found = node.find(path)
    return (found.text or "").strip() if found is not None else ""


def _texts(node: Any, path: str) -> list[str]:
    return [(n.text or "").strip() for n in node.iterfind(path) if (n.text or "").strip()]


def _flatten(node: Any) -> str:
    """The text inside an element and its children, one line each (tags as labels)."""
    lines = []
    for element in node.iter():
        text = (element.text or "").strip() if isinstance(element.tag, str) else ""
        if text:
            lines.append(f"{element.tag}: {text}")
    return "\n".join(lines)


@dataclass(frozen=True)
class PartnerReport:
    """What tarcza acts on in a partner's report."""

    incident_type: str
    sextortion: bool
    child_in_danger: bool
    urls: tuple[str, ...]
    usernames: tuple[str, ...]
    description: str
    annotations: tuple[str, ...] = field(default=())

    @property
    def category(self) -> str:
        """The intake category: sextortion, grooming, csam or other."""
        if self.sextortion:
            return "sextortion"
        if self.incident_type in GROOMING_TYPES or "csamSolicitation" in self.annotations:
            return "grooming"
        if self.incident_type in CSAM_TYPES:
            return "csam"
        return "other"


CSAM_TYPES = frozenset({"Child Pornography (possession, manufacture, and distribution)"})
GROOMING_TYPES = frozenset({"Online Enticement of Children for Sexual Acts"})
_CONTENT_INCIDENTS = (
    "emailIncident",
    "newsgroupIncident",
    "chatImIncident",
    "onlineGamingIncident",
    "cellPhoneIncident",
    "nonInternetIncident",
    "peer2peerIncident",
)


def read_report(doc: Any) -> PartnerReport:
    """The parts of a validated ``<report>`` that tarcza acts on."""
    summary = doc.find("incidentSummary")
    annotations = summary.find("reportAnnotations")
    marked = tuple(a.tag for a in annotations) if annotations is not None else ()
    sections = [f"CyberTipline incident type: {_text(summary, 'incidentType')}"]
    when = _text(summary, "incidentDateTime")
    sections.append(f"Incident date and time: {when}")
    for path in ("incidentDateTimeDescription", "platform", "escalateToHighPriority"):
        value = _text(summary, path)
        if value:
            sections.append(f"{path}: {value}")
    if marked:
        sections.append("Annotations: " + ", ".join(marked))
    urls: list[str] = []
    for web in doc.iterfind("internetDetails/webPageIncident"):
        urls.extend(_texts(web, "url"))
        info = _text(web, "additionalInfo")
        if info:
            sections.append(f"Web page: {info}")
    for name in _CONTENT_INCIDENTS:
        for incident in doc.iterfind(f"internetDetails/{name}"):
            sections.append(f"[{name}]\n{_flatten(incident)}")
    reported = doc.find("personOrUserReported")
    usernames: list[str] = []
    if reported is not None:
        for path in ("screenName", "espIdentifier", "displayName"):
            usernames.extend(_texts(reported, path))
        urls.extend(_texts(reported, "profileUrl"))
    extra = _text(doc, "additionalInfo")
    if extra:
        sections.append(f"Additional information: {extra}")
    return PartnerReport(
        incident_type=_text(summary, "incidentType"),
        sextortion="sextortion" in marked,
        child_in_danger=summary.find("escalateToHighPriority") is not None,
        urls=tuple(dict.fromkeys(absolute_url(u) for u in urls)),
        usernames=tuple(dict.fromkeys(usernames)),
        description="\n".join(sections),
        annotations=marked,
    )


def absolute_url(value: str) -> str:
    """A URL as reported; one without a scheme ("example.com/x") is read as http://."""
    return value if "://" in value else f"http://{value}"


@dataclass(frozen=True)
class FileInfo:
    """A file's details as the partner gave them."""

    report_id: int
    file_id: str
    original_name: str
    classification: str | None
    hashes: tuple[tuple[str, str], ...]


def read_file_details(doc: Any) -> FileInfo:
    """The parts of a validated ``<fileDetails>`` that tarcza keeps readable."""
    return FileInfo(
        report_id=int(_text(doc, "reportId")),
        file_id=_text(doc, "fileId"),
        original_name=_text(doc, "originalFileName"),
        classification=_text(doc, "industryClassification") or None,
        hashes=tuple(
            (h.get("hashType", ""), (h.text or "").strip())
            for h in doc.iterfind("originalFileHash")
        ),
    )


def report_id_of(value: str | None) -> int:
    """A report id given in a form field; IspwsRefused (INVALID_REQUEST) when it is not one."""
    text = (value or "").strip()
    if not text:
        raise IspwsRefused(Code.INVALID_REQUEST, "the field id (the report id) is missing")
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise IspwsRefused(Code.INVALID_REQUEST, "the field id must be a report id (a number)")
    return int(text)


# -- answering ------------------------------------------------------------------------------


def _document(root: str, children: Sequence[tuple[str, Any]]) -> bytes:
    element = etree.Element(root)
    for name, value in children:
        if isinstance(value, list):
            holder = etree.SubElement(element, name)
            for child_name, child_value in value:
                etree.SubElement(holder, child_name).text = str(child_value)
        elif value is not None:
            etree.SubElement(element, name).text = str(value)
    body: bytes = etree.tostring(element, xml_declaration=True, encoding="UTF-8", standalone=True)
    return body


def response(
    code: Code,
    *,
    description: str | None = None,
    report_id: int | None = None,
    file_id: str | None = None,
    file_hash: str | None = None,
) -> bytes:
    """A ``<reportResponse>`` document."""
    return _document(
        "reportResponse",
        [
            ("responseCode", int(code)),
            ("responseDescription", description or DESCRIPTIONS[code]),
            ("reportId", report_id),
            ("fileId", file_id),
            ("hash", file_hash),
        ],
    )


def done_response(report_id: int, file_ids: Sequence[str]) -> bytes:
    """The ``<reportDoneResponse>`` of a finished report."""
    files = [("fileId", f) for f in file_ids]
    return _document(
        "reportDoneResponse",
        [("responseCode", 0), ("reportId", report_id), ("files", files if files else None)],
    )


def state_response(
    report_id: int, state: str, *, reference: str | None, stage: str | None, status: str | None
) -> bytes:
    """A ``<reportStatus>`` document: the report's state and, once finished, the outcome."""
    return _document(
        "reportStatus",
        [
            ("responseCode", 0),
            ("responseDescription", DESCRIPTIONS[Code.SUCCESS]),
            ("reportId", report_id),
            ("state", state),
            ("reference", reference),
            ("stage", stage),
            ("status", status),
        ],
    )
