"""The coordinator's national figures at national scale: p50/p90 of the page and the API.

    python bench/national.py [--reports 1000000] [--requests 30] [--workers 2]

Creates the PostgreSQL database ``tarcza_bench`` (dropped at the end), migrates it, and fills
it in SQL (``generate_series``, no ORM) with invented rows over two years: reports, content
items with traces and forwards, evidence, bank signals with matches and partner feedback,
self-protection cases, helpline contacts and cases, referrals and outcomes. Then it starts
``tarcza serve`` and times, as a signed-in coordinator, ``GET /api/v1/stats/national`` and
``GET /staff/national`` for three periods, twice: as deployed (answers from the windows'
snapshots, which the worker keeps current), then counting every answer from the indexed tables
(``TARCZA_FIGURES_MAX_AGE_MINUTES=0``). Target (issue 14): p50 < 500 ms.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from tests.support.databases import PG_ADMIN_URL
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.server import running_server
from tests.support.staff import add_agencies, add_staff

from tarcza.accounts.models import StaffSession, User
from tarcza.accounts.permissions import Role
from tarcza.app import build
from tarcza.config import Settings
from tarcza.schema import migrate
from tarcza.store.base import utcnow

NAME = "tarcza_bench"
END = "2026-12-01"  # the two years of invented rows end here
# Each statement fills one table; {n} is the number of reports, the others scale with it.
FILL = (
    """INSERT INTO reports (reference, pin_hash, category, status, priority, owner_agency,
         child_in_danger, child_age_range, language, source, urls, created_at, updated_at,
         public_stage, public_changed_at)
       SELECT 'B' || lpad(i::text, 11, '0'), repeat('0', 64),
         (ARRAY['csam','csam','csam','sextortion','grooming','other'])[1 + i % 6],
         'received', 0, 'hotline', i % 40 = 0,
         (ARRAY['under_13','13_15','16_17','unknown',NULL])[1 + i % 5], 'pl',
         (ARRAY['web','web','api','partner','helpline','partner'])[1 + (i / 7) % 6], '[]',
         t, t, 'received', t
       FROM generate_series(1, {n}) i,
            LATERAL (SELECT timestamptz '{end}' - (({n} - i) * interval '63 seconds')
                     - (i % 997) * interval '1 second' AS t) s""",
    """INSERT INTO content_items (url_key, url, host, state, first_reported_at,
         last_reported_at, classification, assessed_at, noticed_at, removed_at, checks)
       SELECT md5(i::text) || md5((i + 1)::text), 'http://invented.example/' || i,
         'invented.example', 'removed', t, t,
         (ARRAY['baseline','baseline','national','not_illegal'])[1 + i % 4],
         t + (1 + i % 30) * interval '1 hour',
         CASE WHEN i % 4 < 2 THEN t + (2 + i % 30) * interval '1 hour' END,
         CASE WHEN i % 10 < 7 THEN t + (5 + i % 150) * interval '1 hour' END, 0
       FROM generate_series(1, {n} * 2 / 5) i,
            LATERAL (SELECT timestamptz '{end}' - (({n} * 2 / 5 - i) * interval '158 seconds')
                     AS t) s""",
    """INSERT INTO item_traces (item_id, host, addresses, country, location, traced_at)
       SELECT id, host, '[]', (ARRAY['PL','NL','DE','US','FR','RU','SC'])[1 + id % 7],
         CASE WHEN id % 7 = 0 THEN 'local' ELSE 'abroad' END, assessed_at
       FROM content_items""",
    """INSERT INTO item_actions (item_id, action, status, attempt, created_at, tries)
       SELECT id, 'forward_partner_hotline', 'sent', 1, noticed_at, 0
       FROM content_items WHERE noticed_at IS NOT NULL AND id % 7 <> 0""",
    """INSERT INTO helpline_cases (agency, status, risk, created_by, created_at, updated_at)
       SELECT 'helpline', 'open', 'medium', 'bench', t, t
       FROM generate_series(1, {n} / 25) i,
            LATERAL (SELECT timestamptz '{end}' - (({n} / 25 - i) * interval '1575 seconds')
                     AS t) s""",
    """INSERT INTO helpline_contacts (agency, channel, caller, age_band, topics, risk,
         started_at, duration_minutes, summary_sealed, created_by, created_at)
       SELECT 'helpline', (ARRAY['phone','chat','email','web'])[1 + i % 4], 'child',
         (ARRAY['0_6','7_9','10_12','13_15','16_17','unknown'])[1 + i % 6],
         (ARRAY['sextortion grooming','online_sexual_abuse','bullying','family'])[1 + i % 4],
         'medium', t, 10, '\\x00', 'bench', t
       FROM generate_series(1, {n} / 5) i,
            LATERAL (SELECT timestamptz '{end}' - (({n} / 5 - i) * interval '315 seconds')
                     AS t) s""",
    """INSERT INTO referrals (report_id, from_agency, to_agency, state, reason_sealed,
         created_by, created_at, answered_by, answered_at)
       SELECT id, 'hotline', CASE WHEN id % 5 = 0 THEN 'helpline' ELSE 'police' END,
         (ARRAY['accepted','accepted','pending','declined','withdrawn'])[1 + id % 5],
         '\\x00', 'bench', created_at, 'bench', created_at + (1 + id % 48) * interval '1 hour'
       FROM reports WHERE id % 6 = 0 OR child_in_danger""",
    """INSERT INTO referral_outcomes (report_id, referral_id, agency, outcome, recorded_by,
         recorded_at)
       SELECT report_id, id, to_agency,
         (ARRAY['investigation_opened','victim_identified','suspect_identified','no_action'])
           [1 + id % 4], 'bench', answered_at + interval '2 days'
       FROM referrals WHERE state = 'accepted'""",
    """INSERT INTO protection_cases (reference, pin_hash, age_band, items, created_at)
       SELECT 'P' || lpad(i::text, 11, '0'), repeat('0', 64), '13_15', 2,
         timestamptz '{end}' - ({n} / 50 - i) * interval '3150 seconds'
       FROM generate_series(1, {n} / 50) i""",
    """INSERT INTO banks (name, kind, source, terms, pdq_threshold, vpdq_query_match_pct,
         vpdq_compared_match_pct, enabled, created_at, updated_at)
       VALUES ('SELF_PROTECTION', 'block', 'bench', 'bench', 31, 80, 0, true, now(), now()),
              ('HOTLINE', 'block', 'bench', 'bench', 31, 80, 0, true, now(), now()),
              ('PARTNER', 'block', 'bench', 'bench', 31, 80, 0, true, now(), now())""",
    """INSERT INTO bank_signals (bank_id, signal_type, value, lookup_key, created_at)
       SELECT 1 + i % 3, 'md5', md5(i::text), md5(i::text) || md5(i::text),
         timestamptz '{end}' - (i % 700) * interval '1 day'
       FROM generate_series(1, {n} / 5) i""",
    """INSERT INTO evidence (report_id, storage_key, media_type, size_bytes, width, height,
         md5, sha256, created_at)
       SELECT id, md5(id::text) || md5((id + 7)::text), 'image/png', 1, 1, 1, md5(id::text),
         md5(id::text) || md5(id::text), created_at
       FROM reports WHERE id % 10 = 0""",
    """INSERT INTO evidence_matches (evidence_id, bank_id, signal_id, signal_type, distance,
         created_at)
       SELECT e.id, 1 + e.id % 3, 1 + e.id % ({n} / 5), 'md5', 0, e.created_at
       FROM evidence e WHERE e.id % 2 = 0""",
    """INSERT INTO partners (name, key_hash, enabled, created_at)
       VALUES ('platform-x', repeat('p', 64), true, now())""",
    """INSERT INTO signal_feedback (signal_id, partner_id, action, count, created_at)
       SELECT 1 + i % ({n} / 5), 1, (ARRAY['blocked','removed','reviewed_kept','false_positive'])
         [1 + i % 4], 1 + i % 3, timestamptz '{end}' - (i % 700) * interval '1 day'
       FROM generate_series(1, {n} / 20) i""",
)
PERIODS = (
    ("default (3 months, monthly)", {}),
    ("a quarter by weeks", {"from": "2026-09-01", "to": "2026-11-30", "every": "week"}),
    ("a year by months", {"from": "2025-12-01", "to": "2026-11-30", "every": "month"}),
)


def admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def fill(url: str, reports: int) -> dict[str, float]:
    """Fill every table in SQL; seconds per statement."""
    timings = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement in FILL:
            started = time.perf_counter()
            conn.execute(statement.format(n=reports, end=END))  # type: ignore[arg-type]
            table = statement.split("INTO ", 1)[1].split(" ", 1)[0]
            timings[table] = time.perf_counter() - started
        conn.commit()
        conn.autocommit = True
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def coordinator_token(url: str, var_dir: Path) -> str:
    """A coordinator with a full session (as tests.support.staff.sign_in writes one)."""
    settings = Settings(var_dir=var_dir, database_url=url, data_keys=f"k1:{KEY_A}",
                        hmac_key=HMAC_KEY, _env_file=None)  # type: ignore[call-arg]  # fmt: skip
    ctx = build(settings)
    add_agencies(ctx)
    user = add_staff(ctx, "ministry", Role.COORDINATOR, "bench-coordinator")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.transaction() as session:
        user_id = session.query(User.id).filter(User.username == user.username).scalar()
        session.add(StaffSession(token_hash=ctx.keyring.keyed_hash("staff-session", token),
                                 user_id=user_id, mfa_passed=True, created_at=now,
                                 last_seen_at=now, revoked=False))  # fmt: skip
    ctx.db.dispose()
    return token


def timed(client: httpx.Client, path: str, params: dict[str, str], n: int) -> list[float]:
    for _ in range(2):  # warm-up: connections, templates, the database's cache
        assert client.get(path, params=params).status_code == 200
    out = []
    for _ in range(n):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:300]
    return sorted(out)


def measure(url: str, token: str, n: int) -> None:
    cookies = {"tarcza_staff": token}
    with httpx.Client(base_url=url, cookies=cookies, timeout=120) as client:
        for label, params in PERIODS:
            for path in ("/api/v1/stats/national", "/staff/national"):
                ms = timed(client, path, params, n)
                print(f"{label:<28} {path:<24} p50 {p(ms, 50):6.0f} ms"
                      f"  p90 {p(ms, 90):6.0f} ms  max {ms[-1]:6.0f} ms")  # fmt: skip


def p(values: list[float], q: int) -> float:
    return values[max(0, -(-q * len(values) // 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--counted", type=int, default=5, help="requests counting every time")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.reports:,} reports")
    admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{NAME}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{NAME}"
    try:
        migrate.upgrade(url)
        started = time.perf_counter()
        for table, seconds in fill(url, args.reports).items():
            print(f"  filled {table:<20} {seconds:6.1f} s")
        print(f"generated in {time.perf_counter() - started:.0f} s")
        with tempfile.TemporaryDirectory() as tmp:
            var_dir = Path(tmp)
            token = coordinator_token(url, var_dir)
            for mode, minutes, n in (("snapshots", "15", args.requests),
                                     ("counting every time", "0", args.counted)):  # fmt: skip
                print(f"-- {mode} (TARCZA_FIGURES_MAX_AGE_MINUTES={minutes})")
                extra = {"TARCZA_FIGURES_MAX_AGE_MINUTES": minutes}
                with running_server(url, var_dir, workers=args.workers, timeout=60,
                                    **extra) as server:  # fmt: skip
                    measure(server.url, token, n)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
