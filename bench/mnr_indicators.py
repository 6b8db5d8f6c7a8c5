"""How long the MNR tracker's live indicators and pages take at national scale (PostgreSQL).

    .venv/bin/python bench/mnr_indicators.py --reports 1000000 --repeat 5

Fills a fresh, migrated PostgreSQL database with synthetic rows (no content at all: counts
and timestamps over the last year) — reports, content items, referrals to the police, helpline
contacts and cases — then times the indicator provider (``LiveIndicators``, uncached) and the
tracker's overview and one capability with a fresh (uncached) service each time, and prints
p50 and max in milliseconds. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.databases import fresh_postgres_database

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.mnr.indicators import LiveIndicators
from tarcza.mnr.service import MnrService
from tarcza.schema import migrate
from tarcza.store.engine import make_database

COORDINATOR = Principal(1, "ola", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, True)
YEAR = "now() - (random() * interval '365 days')"

FILL = [
    "INSERT INTO agencies (code, name, kind, created_at) VALUES "
    "('hotline','Hotline','hotline',now()), ('police','Police','police',now()), "
    "('helpline','Helpline','helpline',now()), ('ministry','Ministry','coordinator',now())",
    # reports: 1 in 20 from a partner platform
    "INSERT INTO reports (reference, pin_hash, category, status, priority, owner_agency, "
    "child_in_danger, language, source, urls, created_at, updated_at, public_changed_at) "
    "SELECT 'R' || lpad(g::text, 11, '0'), 'x', 'csam', 'new', 3, 'hotline', false, 'pl', "
    "CASE WHEN g % 20 = 0 THEN 'partner' ELSE 'web' END, '[]', t, t, t "
    f"FROM (SELECT g, {YEAR} AS t FROM generate_series(1, :n) g) s",
    # content items: one for every two reports, most assessed, a third removed
    "INSERT INTO content_items (url_key, url, host, state, first_reported_at, last_reported_at, "
    "removed_at, classification, assessed_at, noticed_at, checks) "
    "SELECT md5(g::text), 'https://example.com/' || g, 'example.com', 'assessed', t, t, "
    "CASE WHEN g % 3 = 0 THEN t + (random() * interval '10 days') END, 'baseline', "
    "t + interval '2 hours', t + interval '3 hours', 0 "
    f"FROM (SELECT g, {YEAR} AS t FROM generate_series(1, :n / 2) g) s",
    # referrals to the police: one report in 20, most answered within a day
    "INSERT INTO referrals (report_id, from_agency, to_agency, state, reason_sealed, created_by, "
    "created_at, answered_at) SELECT id, 'hotline', 'police', 'accepted', '\\x00', 'anna', "
    "created_at, created_at + (random() * interval '1 day') FROM reports WHERE id % 20 = 1",
    "INSERT INTO helpline_contacts (agency, channel, caller, age_band, topics, risk, started_at, "
    "duration_minutes, summary_sealed, created_by, created_at) "
    "SELECT 'helpline', 'phone', 'child', '13_15', 'sextortion', 'high', t, 5, '\\x00', 'kasia', t "
    f"FROM (SELECT {YEAR} AS t FROM generate_series(1, :n / 5) g) s",
    "INSERT INTO helpline_cases (agency, status, risk, created_by, created_at, updated_at) "
    f"SELECT 'helpline', 'open', 'high', 'kasia', t, t "
    f"FROM (SELECT {YEAR} AS t FROM generate_series(1, :n / 25) g) s",
    "ANALYZE",
]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        db = make_database(url)
        start = time.perf_counter()
        with db.transaction() as session:
            for statement in FILL:
                session.execute(text(statement), {"n": args.reports})
        print(
            f"filled {args.reports:,} reports and the rest in {time.perf_counter() - start:.1f} s"
        )
        provider = LiveIndicators(db, intake_agency="hotline")

        def fresh() -> MnrService:
            return MnrService(db, indicators=provider, cache_seconds=0)

        fresh().overview(COORDINATOR)  # seeds the tracker
        for name, fn in (
            ("indicators (all 15, uncached)", lambda: provider(datetime.now(UTC))),
            ("overview, uncached", lambda: fresh().overview(COORDINATOR)),
            ("capability 12, uncached", lambda: fresh().capability(COORDINATOR, 12)),
        ):
            p50, worst = timed(fn, args.repeat)
            print(f"{name:32} p50 {p50:8.1f} ms   max {worst:8.1f} ms")
        cached = MnrService(db, indicators=provider)
        cached.overview(COORDINATOR)
        p50, worst = timed(lambda: cached.overview(COORDINATOR), args.repeat)
        print(f"{'overview, indicators cached':32} p50 {p50:8.1f} ms   max {worst:8.1f} ms")
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
