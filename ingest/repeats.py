"""Re-sends: a booth on bad Wi-Fi that sends the same photo (same SHA-256) to the same slot
again within the settings' ``repeat_window_seconds`` gets the first job's result, not a second
paid provider call.

The first job is found in the database, so re-sends to another server process are caught too.
Each request writes its photo's digest on its own job before it looks for others, and the
earliest job of the photo is the first: two copies arriving together agree on which one calls
the provider, whichever process runs them. While the first runs, the re-send waits for it (up
to its own deadline), reading the job row every ``_POLL_SECONDS``; a first that ended without a
result (failed, timed out, its result gone) is no reason to refuse the guest: the re-send then
runs as a job of its own. Staff test runs are never deduplicated.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus
from media.models import StoredMedia
from media.selectors import job_result
from photochanger.executors import run_database_work
from providers.base import Deadline

# How often a waiting re-send reads the first job's row: a booth waits 5-15 s for a
# provider, a quarter of a second more is not felt, and the row is read by its primary key.
_POLL_SECONDS = 0.25


def repeat_first(
    *, job_id: uuid.UUID, slot_id: str, sha256: str, window_seconds: int
) -> Job | None:
    """Record the photo's digest on the job, then the earliest job of the same photo on the
    same slot within the window, when that is another one; None when this job is the first."""
    Job.objects.filter(pk=job_id).update(upload_sha256=sha256)
    since = timezone.now() - timedelta(seconds=window_seconds)
    candidates = Job.objects.filter(
        slot_id=slot_id,
        upload_sha256=sha256,
        source=JobSource.INGEST,
        started_at__gte=since,
        repeat_of__isnull=True,
        status__in=(JobStatus.PENDING, JobStatus.DONE),
    ).order_by("started_at", "pk")
    first = candidates.first()
    return None if first is None or first.pk == job_id else first


async def first_result(first: Job, *, deadline: Deadline) -> StoredMedia | None:
    """The first job's result once it has one; None when it ended without one. Waits while it
    runs; TimeoutError when it still runs at ``deadline``."""
    async with asyncio.timeout(deadline.remaining()):
        while True:
            media = await run_database_work(_result_if_final, first.pk)
            if media is not _STILL_RUNNING:
                return media
            await asyncio.sleep(_POLL_SECONDS)


_STILL_RUNNING = object()


def _result_if_final(job_id: uuid.UUID) -> StoredMedia | object | None:
    status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status == JobStatus.PENDING:
        return _STILL_RUNNING
    if status != JobStatus.DONE:
        return None
    media = job_result(job_id=job_id)
    if media is None or media.expires_at <= timezone.now():
        return None
    return media
