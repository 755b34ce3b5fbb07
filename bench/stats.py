"""Benchmark of the statistics queries on PostgreSQL with a million jobs.

What is measured
    The stats page's two reads, ``stats_overview`` (totals, percentiles, counts over time,
    storage, recent failures) and ``stats_slots`` (the same per slot), for 1-hour, 1-day and
    3-day windows, on a database holding 1,000,000 jobs spread evenly over the last 30 days
    across the 15 slots (90% done, 6% failed with assorted reasons, 4% of those 429s, 2%
    timeouts, 3% test runs) and the media rows of the last 72 hours' results. Each read is
    timed end to end in Python (queries, row conversion) several times after one warm-up;
    best and median are printed against the 300 ms target, with the time of each SQL query of
    the median run. /metrics (uncached) and the gallery's snapshot are timed too, for scale.

How
    A fresh database (``photochanger_bench`` by default) is created on the server of
    ``--server-url``, migrated (which seeds the 15 slots), filled with COPY through psycopg,
    vacuumed and analysed (as autovacuum would leave a table that only grows), measured, and
    dropped at the end (``--keep`` keeps it for EXPLAIN sessions).

Run it from the repository root (about a minute on 2 cores)::

    .venv/bin/python bench/stats.py [--jobs 1000000] [--runs 7] [--keep | --reuse]

The exit status is 0 when every read meets the target, 1 if not.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
WINDOWS = [("1 hour", 60), ("1 day", 24 * 60), ("3 days", 3 * 24 * 60)]
SLOTS = [f"slot-{number:03d}" for number in range(1, 16)]
FAILURES = [  # (failure_reason, http status, share of all jobs)
    ("rate_limited", 429, 0.04),
    ("provider_error", 502, 0.012),
    ("unsupported_media_type", 415, 0.004),
    ("payload_too_large", 413, 0.002),
    ("internal_error", 500, 0.002),
]
TIMEOUT_SHARE = 0.02
TEST_RUN_SHARE = 0.03


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="photochanger_bench")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure a database kept by an earlier --keep run (its jobs end at that run's time)",
    )
    options = parser.parse_args()
    options.keep |= options.reuse

    database_url = _database_url(options.server_url, options.database)
    if not options.reuse:
        _recreate_database(options.server_url, options.database)
    try:
        _setup_django(database_url)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        print(f"migrated in {time.perf_counter() - started:.1f} s")

        if not options.reuse:
            now = datetime.now(UTC)
            started = time.perf_counter()
            _fill(database_url, jobs=options.jobs, days=options.days, now=now)
            print(f"filled {options.jobs:,} jobs in {time.perf_counter() - started:.1f} s")
        print(f"load average before measuring: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        return _measure(runs=options.runs)
    finally:
        _close_django()
        if options.keep:
            print(f"kept the database: {database_url}")
        else:
            _drop_database(options.server_url, options.database)


# Database -----------------------------------------------------------------------------------


def _database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _recreate_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped the database {name}")


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _close_django() -> None:
    if "django" not in sys.modules:
        return
    from django.db import connections

    connections.close_all()
    for connection in connections.all(initialized_only=True):
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()


_JOB_COLUMNS = (
    "id",
    "slot_id",
    "source",
    "provider",
    "operation",
    "status",
    "failure_reason",
    "failure_details",
    "http_status",
    "fallback_original",
    "started_at",
    "deadline_at",
    "finished_at",
    "duration_ms",
    "provider_ms",
    "upload_filename",
    "upload_size",
    "upload_content_type",
    "upload_sha256",
    "upload_hash",
    "upload_hash_matches",
    "metadata",
    "result_expires_at",
)


def _job_rows(*, jobs: int, days: int, now: datetime) -> Iterator[tuple]:
    """Jobs in the order they would have been written: by start time."""
    rng = random.Random(20261127)
    span = days * 86400
    # Evenly spread, in order, each somewhere in its own slice of the span (no sort needed).
    gap = span / jobs
    first = now - timedelta(seconds=span)
    thresholds = []
    share = 0.0
    for reason, status, part in FAILURES:
        share += part
        thresholds.append((share, "failed", reason, status))
    share += TIMEOUT_SHARE
    thresholds.append((share, "timeout", "provider_timeout", 504))
    deadline = timedelta(seconds=48)
    ttl = timedelta(hours=72)
    for index in range(jobs):
        moment = first + timedelta(seconds=(index + rng.random()) * gap)
        draw = rng.random()
        status, reason, http_status = "done", "", 200
        for edge, outcome, outcome_reason, outcome_status in thresholds:
            if draw < edge:
                status, reason, http_status = outcome, outcome_reason, outcome_status
                break
        if status == "timeout":
            duration = 48000 + rng.randint(0, 200)
        elif reason == "rate_limited":
            duration = rng.randint(1, 15)
        else:
            duration = min(47000, int(rng.lognormvariate(8.0, 0.6)))  # median ~3 s
        finished = moment + timedelta(milliseconds=duration)
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            SLOTS[rng.randrange(15)],
            "test_run" if rng.random() < TEST_RUN_SHARE else "ingest",
            "gemini",
            "generate",
            status,
            reason,
            "",
            http_status,
            False,
            moment,
            moment + deadline,
            finished,
            duration,
            duration - 5 if status == "done" else None,
            "IMG_0003.JPG",
            2_000_000 + rng.randint(0, 6_000_000),
            "image/jpeg",
            "",
            "",
            None,
            "{}",
            finished + ttl if status == "done" else None,
        )


def _fill(database_url: str, *, jobs: int, days: int, now: datetime) -> None:
    with psycopg.connect(database_url) as connection:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            columns = ", ".join(_JOB_COLUMNS)
            with cursor.copy(f"COPY ingest_job ({columns}) FROM STDIN") as copy:
                for row in _job_rows(jobs=jobs, days=days, now=now):
                    copy.write_row(row)
            print(f"  COPY of the jobs: {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            # What storage holds: results of the last 72 hours' done jobs, a thumbnail for a
            # third of them (made when staff or the gallery looked).
            cursor.execute(
                """
                INSERT INTO media_storedmedia
                    (id, kind, job_id, storage_name, content_type, size_bytes, created_at,
                     expires_at)
                SELECT gen_random_uuid(), 'result', id, 'results/' || id || '.jpg',
                       'image/jpeg', upload_size, finished_at, result_expires_at
                FROM ingest_job WHERE status = 'done' AND result_expires_at > %(now)s
                """,
                {"now": now},
            )
            cursor.execute(
                """
                INSERT INTO media_storedmedia
                    (id, kind, job_id, storage_name, content_type, size_bytes, created_at,
                     expires_at)
                SELECT gen_random_uuid(), 'thumbnail', job_id,
                       'thumbnails/' || job_id || '.webp', 'image/webp', 14000, created_at,
                       expires_at
                FROM media_storedmedia WHERE kind = 'result' AND random() < 0.33
                """
            )
        connection.commit()
        print(f"  media rows: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE ingest_job")
        connection.execute("VACUUM ANALYZE media_storedmedia")
        print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
        media = connection.execute("SELECT count(*) FROM media_storedmedia").fetchone()[0]
        print(f"media rows: {media:,}")


# Measuring ----------------------------------------------------------------------------------


@contextmanager
def _query_times() -> Iterator[list[tuple[float, str]]]:
    from django.db import connection

    timings: list[tuple[float, str]] = []

    def timed(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append(((time.perf_counter() - started) * 1000, sql))

    with connection.execute_wrapper(timed):
        yield timings


def _time(function: Callable[[], object], runs: int) -> tuple[list[float], list[tuple]]:
    function()  # warm-up: connection, plans, caches
    samples = []
    queries = []
    for _ in range(runs):
        with _query_times() as timings:
            started = time.perf_counter()
            function()
            samples.append((time.perf_counter() - started) * 1000)
        queries.append(list(timings))
    median_run = sorted(range(runs), key=lambda index: samples[index])[runs // 2]
    return samples, queries[median_run]


def _summary(sql: str) -> str:
    text = " ".join(sql.split())
    return text[:110] + ("…" if len(text) > 110 else "")


def _measure(*, runs: int) -> int:
    from django.core.cache import cache

    from stats.metrics import metrics_cache_clear, metrics_text
    from stats.selectors import gallery_snapshot, stats_overview, stats_slots
    from stats.services import gallery_share

    failures = 0
    print(f"\n{'read':<22}{'window':<9}{'best':>9}{'median':>9}   target {TARGET_MS:.0f} ms")
    details = []
    for label, minutes in WINDOWS:
        for name, read in (("stats_overview", stats_overview), ("stats_slots", stats_slots)):
            samples, queries = _time(partial(read, window_minutes=minutes), runs)
            best, median = min(samples), statistics.median(samples)
            verdict = "ok" if median <= TARGET_MS else "SLOW"
            failures += verdict != "ok"
            print(f"{name:<22}{label:<9}{best:>7.1f}ms{median:>7.1f}ms   {verdict}")
            details.append((f"{name} {label}", queries))

    def metrics() -> str:
        metrics_cache_clear()
        return metrics_text()

    gallery_share(minutes=10, user=None)

    def gallery() -> object:
        cache.clear()
        return gallery_snapshot()

    for name, function in (("metrics (uncached)", metrics), ("gallery snapshot", gallery)):
        samples, queries = _time(function, runs)
        print(f"{name:<22}{'':<9}{min(samples):>7.1f}ms{statistics.median(samples):>7.1f}ms")
        details.append((name, queries))

    print("\nqueries of each median run (ms):")
    for name, queries in details:
        print(f"  {name}")
        for duration, sql in queries:
            print(f"    {duration:7.1f}  {_summary(sql)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
