"""python manage.py cleanup_media: the cron job that lets results go when their time is up.

Deletes expired results, thumbnails and provider media, and the booth request log's rows as old
as the results it could explain; closes jobs a crash left pending (the
running servers close them too, see ingest.workers; this is the last resort), and removes
orphan files older than a grace period. Prints one summary line. Exit status: 0 all
done, 1 some deletions failed (retried on the next run), 2 the database is unreachable.
"""

from __future__ import annotations

import logging
from argparse import ArgumentTypeError
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from ingest.jobs import jobs_close_stale, jobs_count_stale
from media.services import MediaCleanup, media_cleanup
from photochanger.request_log import requests_prune
from slots.selectors import template_image_names
from slots.services import settings_get

EXIT_FAILURES = 1
EXIT_DATABASE_UNREACHABLE = 2


class Command(BaseCommand):
    help = "Delete expired and orphan media files and close stale jobs (run it from cron)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
        parser.add_argument(
            "--grace-minutes",
            type=_minutes,
            default=60,
            help="leave files without a row alone until they are this old (default 60); "
            "keep it above the longest request",
        )

    def handle(self, *args: object, dry_run: bool, grace_minutes: int, **options) -> None:
        now = timezone.now()
        # The pool would log every reconnect attempt; one line below says it all.
        pool_logger = logging.getLogger("psycopg.pool")
        level = pool_logger.level
        pool_logger.setLevel(logging.ERROR)
        try:
            stale = jobs_count_stale(now=now) if dry_run else jobs_close_stale(now=now)
            cleanup = media_cleanup(
                now=now,
                orphan_grace=timedelta(minutes=grace_minutes),
                kept_elsewhere=template_image_names,
                dry_run=dry_run,
            )
            # The booth request log goes with the results it could explain.
            kept_for = timedelta(hours=settings_get().result_ttl_hours)
            log_rows = requests_prune(older_than=kept_for, now=now, dry_run=dry_run)
        except (OperationalError, InterfaceError) as error:
            reason = (str(error).strip().splitlines() or ["no answer"])[0]
            self.stderr.write(f"cleanup_media: the database is unreachable: {reason}")
            raise SystemExit(EXIT_DATABASE_UNREACHABLE) from None
        finally:
            pool_logger.setLevel(level)
        self.stdout.write(_summary(cleanup, stale=stale, log_rows=log_rows, dry_run=dry_run))
        if cleanup.failures:
            raise SystemExit(EXIT_FAILURES)


def _minutes(value: str) -> int:
    if not value.isdigit():
        raise ArgumentTypeError("a whole number of minutes, 0 or more")
    return int(value)


def _summary(cleanup: MediaCleanup, *, stale: int, log_rows: int, dry_run: bool) -> str:
    deleted = ", ".join(
        [
            _count(cleanup.results, "result"),
            _count(cleanup.thumbnails, "thumbnail"),
            f"{cleanup.provider_media} provider media",
            _count(cleanup.orphan_files, "orphan file"),
            _count(log_rows, "request log row"),
        ]
    )
    closed = _count(stale, "stale job")
    failures = _count(cleanup.failures, "failure")
    if dry_run:
        return f"cleanup_media (dry run): would delete {deleted}; would close {closed}; {failures}"
    return f"cleanup_media: deleted {deleted}; closed {closed}; {failures}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
