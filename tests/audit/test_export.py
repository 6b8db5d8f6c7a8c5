"""Signed exports: an untouched export verifies; any tampering, however made, does not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.errors import Denied
from tarcza.oversight.export import (
    FORMAT,
    build_document,
    encode,
    export_as,
    export_log,
    public_key_b64,
    sign,
    verify_export,
)
from tarcza.oversight.search import AuditFilter, search
from tarcza.store.engine import Database

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
TRUSTED = public_key_b64(KEY)
START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
AUDITOR = Principal(1, "olga", "ministry", AgencyKind.COORDINATOR, Role.AUDITOR, mfa_passed=True)


def make_chain(n: int, first: int = 1) -> list[chain.Entry]:
    """A valid run of entries ``first``..``first+n-1`` (the ones before it are implied)."""
    entries: list[chain.Entry] = []
    prev = chain.GENESIS if first == 1 else "ab" * 32
    for seq in range(first, first + n):
        fields: dict[str, Any] = dict(
            seq=seq,
            created_at=START + timedelta(seconds=seq, microseconds=seq),
            actor="anna" if seq % 2 else "public",
            agency="hotline" if seq % 2 else None,
            action="evidence.revealed" if seq % 3 == 0 else "report.created",
            subject_type="report",
            subject_id=f"TZ-0000-{seq:04d}",
            reason='Ocena "materiału"\n\\ zażółć' if seq % 3 == 0 else None,
            details=chain.canonical_json({"n": seq, "text": "ą\t/"}),
            prev_hash=prev,
        )
        digest = chain.entry_hash(**fields)
        entries.append(chain.Entry(entry_hash=digest, **fields))
        prev = digest
    return entries


def document(entries: list[chain.Entry], key: bytes = KEY) -> dict[str, Any]:
    return build_document(
        entries, exported_by="olga", exported_at=NOW, since=None, until=None, signing_key=key
    )


def test_an_untouched_export_verifies_with_and_without_the_trusted_key() -> None:
    data = encode(document(make_chain(5)))
    trusted = verify_export(data, TRUSTED)
    assert (trusted.ok, trusted.count, trusted.trusted) == (True, 5, True)
    assert (trusted.first_seq, trusted.last_seq) == (1, 5)
    assert verify_export(data, base64.b64decode(TRUSTED)).ok
    untrusted = verify_export(data)
    assert untrusted.ok and not untrusted.trusted


def test_the_document_has_the_published_shape() -> None:
    doc = json.loads(encode(document(make_chain(3))))
    assert doc["format"] == FORMAT == "tarcza-audit-export/1"
    assert set(doc) == {
        "format",
        "exported_at",
        "exported_by",
        "range",
        "entries",
        "head",
        "count",
        "public_key",
        "signature",
    }
    assert doc["head"] == {"seq": 3, "entry_hash": doc["entries"][-1]["entry_hash"]}
    assert doc["count"] == 3 and doc["public_key"] == TRUSTED
    assert set(doc["entries"][0]) == {
        "seq",
        "created_at",
        "actor",
        "agency",
        "action",
        "subject_type",
        "subject_id",
        "reason",
        "details",
        "prev_hash",
        "entry_hash",
    }


def test_an_export_starting_mid_chain_verifies_from_its_first_link() -> None:
    assert verify_export(encode(document(make_chain(4, first=10))), TRUSTED).ok


def test_an_empty_export_verifies() -> None:
    verdict = verify_export(encode(document([])), TRUSTED)
    assert verdict.ok and verdict.count == 0


def test_a_run_claiming_to_start_the_log_must_start_at_genesis() -> None:
    entries = make_chain(3, first=1)
    doc = document(entries)
    doc["entries"][0]["prev_hash"] = "ab" * 32
    verdict = verify_export(encode(sign(doc, KEY)), TRUSTED)
    assert not verdict.ok and verdict.broken_seq == 1


def test_an_altered_entry_is_named() -> None:
    doc = document(make_chain(5))
    doc["entries"][2]["actor"] = "someone else"
    verdict = verify_export(encode(doc), TRUSTED)
    assert (verdict.ok, verdict.broken_seq, verdict.count) == (False, 3, 2)
    assert verdict.problem == "entry 3 its content was altered"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an audit export"),
        (b"\xff\xfe{}", "not an audit export"),
        (b"[]", "not an audit export"),
        (b"[" * 100_000, "not an audit export"),
        (b'{"format": "tarcza-audit-export/1", "format": "x"}', "twice"),
        (b'{"count": NaN}', "not a JSON number"),
    ],
)
def test_what_is_not_an_export_is_said_so(data: bytes, reason: str) -> None:
    verdict = verify_export(data)
    assert not verdict.ok and reason in (verdict.problem or "")


def test_a_wrong_type_is_not_an_export() -> None:
    doc = document(make_chain(2))
    doc["count"] = True  # a JSON boolean is no count, even in Python
    assert "not an audit export" in (verify_export(encode(doc)).problem or "")


# -- random tampering (property) ----------------------------------------------------------------

ENTRY_FIELDS = [
    "seq",
    "created_at",
    "actor",
    "agency",
    "action",
    "subject_type",
    "subject_id",
    "reason",
    "details",
    "prev_hash",
    "entry_hash",
]


def _other_value(data: st.DataObject, old: Any, field: str) -> Any:
    if field == "seq":
        return old + data.draw(st.sampled_from([-1, 1, 2, 1000]))
    if field == "created_at":
        moment = datetime.strptime(old, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return chain.timestamp(moment + timedelta(microseconds=data.draw(st.integers(1, 10**9))))
    if old is None:
        return data.draw(st.text(min_size=0, max_size=10))
    return data.draw(st.one_of(st.none(), st.text(max_size=20)).filter(lambda v: v != old))


def _resign(doc: dict[str, Any], key: bytes) -> dict[str, Any]:
    """What a forger without the key does: fix the summary up, sign with their own key."""
    entries = doc["entries"]
    doc["count"] = len(entries)
    doc["head"] = (
        {"seq": entries[-1]["seq"], "entry_hash": entries[-1]["entry_hash"]} if entries else None
    )
    doc["range"]["first_seq"] = entries[0]["seq"] if entries else None
    doc["range"]["last_seq"] = entries[-1]["seq"] if entries else None
    doc["public_key"] = public_key_b64(key)
    return sign(doc, key)


def _rehash_from(entries: list[dict[str, Any]], index: int) -> None:
    """Recompute the hashes from ``index`` on, as a forger would to hide a change."""
    prev = entries[index - 1]["entry_hash"] if index > 0 else entries[0]["prev_hash"]
    for entry in entries[index:]:
        entry["prev_hash"] = prev
        fields = {k: v for k, v in entry.items() if k != "entry_hash"}
        fields["created_at"] = datetime.strptime(
            fields["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ"
        ).replace(tzinfo=UTC)
        try:
            entry["entry_hash"] = chain.entry_hash(**fields)
        except (TypeError, AttributeError):
            return  # a value of the wrong type cannot be hashed: leave the rest as is
        prev = entry["entry_hash"]


TAMPERINGS = ["alter", "drop", "swap", "truncate", "flip_byte", "signature", "duplicate"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=1, max_value=10),
    first=st.sampled_from([1, 1, 57]),
    how=st.sampled_from(TAMPERINGS),
    rehash=st.booleans(),
    forge=st.booleans(),
    data=st.data(),
)
def test_every_random_tampering_is_detected(
    n: int, first: int, how: str, rehash: bool, forge: bool, data: st.DataObject
) -> None:
    original = encode(document(make_chain(n, first)))
    assert verify_export(original, TRUSTED).ok
    doc = json.loads(original)
    entries = doc["entries"]
    index = data.draw(st.integers(0, n - 1), label="index")

    if how == "flip_byte":
        # Any single byte changed inside an entry's bytes.
        raw = json.dumps(entries[index], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        start = original.index(raw.encode("utf-8"))
        at = start + data.draw(st.integers(0, len(raw.encode("utf-8")) - 1), label="at")
        new = data.draw(st.integers(0, 255).filter(lambda b: b != original[at]), label="byte")
        tampered = original[:at] + bytes([new]) + original[at + 1 :]
        assert not verify_export(tampered, TRUSTED).ok
        return
    if how == "signature":
        sig = bytearray(base64.b64decode(doc["signature"]))
        sig[data.draw(st.integers(0, len(sig) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        doc["signature"] = base64.b64encode(bytes(sig)).decode()
        assert not verify_export(encode(doc), TRUSTED).ok
        assert not verify_export(encode(doc)).ok
        return
    if how == "alter":
        field = data.draw(st.sampled_from(ENTRY_FIELDS), label="field")
        entries[index][field] = _other_value(data, entries[index][field], field)
        # Recomputing the links would simply undo a changed hash or link.
        rehash = rehash and field not in ("entry_hash", "prev_hash")
    elif how == "drop":
        del entries[index]
    elif how == "swap":
        if n < 2:
            return
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index), label="other")
        entries[index], entries[other] = entries[other], entries[index]
    elif how == "duplicate":
        entries.insert(index, dict(entries[index]))
    else:  # truncate the tail — the chain alone cannot show it: the signature must
        del entries[data.draw(st.integers(0, n - 1), label="keep") :]
        forge = True

    if rehash and entries:
        _rehash_from(entries, min(index, len(entries) - 1))
    if forge:
        doc = _resign(doc, OTHER_KEY)
    verdict = verify_export(encode(doc), TRUSTED)
    assert not verdict.ok, (how, verdict)


# -- exports from the database --------------------------------------------------------------------


def fill(db: Database, n: int, start: datetime = START) -> None:
    for i in range(n):
        with db.transaction() as session:
            audit.append(
                session,
                actor="anna",
                agency="hotline",
                action="report.created",
                subject_type="report",
                subject_id=f"TZ-0000-{i:04d}",
                now=start + timedelta(days=i),
                details={"i": i, "text": "zażółć"},
            )


def test_an_export_of_the_database_verifies_and_is_recorded(db: Database) -> None:
    fill(db, 4)
    made = export_log(db, AUDITOR, signing_key=KEY, now=NOW, all_agencies=True)
    assert (made.count, made.first_seq, made.last_seq) == (4, 1, 4)
    verdict = verify_export(made.data, TRUSTED)
    assert verdict.ok and verdict.count == 4
    (logged,) = search(db, AUDITOR, AuditFilter(action="audit.exported"), NOW, all_agencies=True)
    details = json.loads(logged.details)
    assert (logged.actor, logged.agency) == ("olga", "ministry")
    assert details["count"] == 4 and details["last_seq"] == 4
    import hashlib

    assert details["sha256"] == hashlib.sha256(made.data).hexdigest()


def test_an_export_of_a_period_covers_it_and_verifies(db: Database) -> None:
    fill(db, 6)
    made = export_as(
        db,
        actor="command-line",
        agency=None,
        signing_key=KEY,
        now=NOW,
        since=START + timedelta(days=2),
        until=START + timedelta(days=4),
    )
    doc = json.loads(made.data)
    assert [e["seq"] for e in doc["entries"]] == [3, 4]
    assert doc["range"]["since"] == "2026-01-03T00:00:00.000000Z"
    assert verify_export(made.data, TRUSTED).ok


def test_an_entry_made_out_of_time_order_keeps_the_export_whole(db: Database) -> None:
    fill(db, 3)
    # Entry 4 carries an earlier time than entry 3 (its clock was read before 3 took the lock).
    fill(db, 1, start=START + timedelta(days=1, hours=1))
    fill(db, 1, start=START + timedelta(days=3))
    made = export_as(
        db, actor="t", agency=None, signing_key=KEY, now=NOW, since=START + timedelta(days=2)
    )
    assert [e["seq"] for e in json.loads(made.data)["entries"]] == [3, 4, 5]
    assert verify_export(made.data, TRUSTED).ok


def test_an_export_of_an_empty_period_is_empty(db: Database) -> None:
    fill(db, 2)
    made = export_as(db, actor="t", agency=None, signing_key=KEY, now=NOW, since=NOW)
    assert made.count == 0 and verify_export(made.data, TRUSTED).ok


def test_no_one_but_an_auditor_may_export(db: Database) -> None:
    analyst = Principal(2, "anna", "hotline", AgencyKind.HOTLINE, Role.ANALYST, mfa_passed=True)
    with pytest.raises(Denied):
        export_log(db, analyst, signing_key=KEY, now=NOW)
