"""Re-sends: a booth on bad Wi-Fi that sends the same photo (same SHA-256) to the same slot
again within the settings' ``repeat_window_seconds`` gets the first job's result, not a second
paid provider call.

The first job is found in the database, so re-sends to another server process are caught too.
A photo is first compared by its size in bytes, which every job records when it starts: a new
photo, whose size no earlier job of the window has, goes on at once, without waiting for its
digest. Only a photo with an earlier job of the same size waits for its own digest and compares
it with that job's (each job writes its SHA-256 as soon as it is known, beside its provider
call): the same, and it waits for that job's result; different, or no result (failed, timed out,
gone), and it runs as a job of its own. Two copies arriving together agree on which one calls
the provider: the one that started first (then the lower id), whichever process runs them.
Staff test runs are never deduplicated.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus
from media.models import StoredMedia
from media.selectors import job_result
from photochanger.executors import run_database_work
from providers.base import Deadline

# How often a waiting re-send reads the first job's row: a booth waits 5-15 s for a
# provider, a quarter of a second more is not felt, and the row is read by its primary key.
_POLL_SECONDS = 0.25


def repeat_candidate(
    *, job_id: uuid.UUID, slot_id: str, size: int, started_at: datetime, window_seconds: int
) -> Job | None:
    """The earliest job of the window, before this one, of a photo of this size on this slot:
    the first, if the photo is the same."""
    since = timezone.now() - timedelta(seconds=window_seconds)
    earlier = Q(started_at__lt=started_at) | Q(started_at=started_at, pk__lt=job_id)
    return (
        Job.objects.filter(
            earlier,
            slot_id=slot_id,
            upload_size=size,
            source=JobSource.INGEST,
            started_at__gte=since,
            repeat_of__isnull=True,
            status__in=(JobStatus.PENDING, JobStatus.DONE),
        )
        .order_by("started_at", "pk")
        .first()
    )


def photo_digest_publish(*, job_id: uuid.UUID, sha256: str) -> None:
    """Write the job's SHA-256 as soon as it is known, for a re-send to compare with."""
    Job.objects.filter(pk=job_id, upload_sha256="").update(upload_sha256=sha256)


@dataclass(frozen=True)
class FirstOutcome:
    same_photo: bool
    result: StoredMedia | None  # None when it ended without one, or it is gone


async def first_outcome(first: Job, *, sha256: str, deadline: Deadline) -> FirstOutcome:
    """Whether ``first`` had the same photo and, if so, its result once it has ended: waits
    while that is not known; TimeoutError when it still is not at ``deadline``."""
    async with asyncio.timeout(deadline.remaining()):
        while True:
            outcome = await run_database_work(_outcome, first.pk, sha256)
            if outcome is not None:
                return outcome
            await asyncio.sleep(_POLL_SECONDS)


def _outcome(job_id: uuid.UUID, sha256: str) -> FirstOutcome | None:
    """None while it is not known yet: the first's digest is not written, or it runs."""
    row = Job.objects.filter(pk=job_id).values("status", "upload_sha256").first()
    if row is None or (row["upload_sha256"] and row["upload_sha256"] != sha256):
        return FirstOutcome(same_photo=False, result=None)
    if row["status"] == JobStatus.PENDING:
        return None
    if row["upload_sha256"] != sha256:  # it ended without its digest: no telling
        return FirstOutcome(same_photo=False, result=None)
    media = job_result(job_id=job_id) if row["status"] == JobStatus.DONE else None
    if media is not None and media.expires_at <= timezone.now():
        media = None
    return FirstOutcome(same_photo=True, result=media)
