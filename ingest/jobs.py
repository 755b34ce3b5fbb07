"""Writes of jobs. A job moves forward once, from pending to done, failed or timeout."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus, Worker
from media.models import StoredMedia
from media.services import (
    media_file_delete,
    result_file_publish,
    result_file_save,
    result_media_create,
)
from photochanger.errors import PhotoChangerError
from slots.models import Slot

logger = logging.getLogger(__name__)

# A job is only ever pending while a request waits on it, and its worker closes it at its
# deadline; past the deadline plus this margin it can only be the leftover of a crash, whoever
# ran it.
STALE_MARGIN = timedelta(minutes=2)
# What a job closed by anyone but its own worker says: nothing is left to answer it.
STOPPED = {
    "failure_reason": "internal_error",
    "failure_details": "the server stopped while processing",
}


def job_start(
    *,
    slot: Slot,
    deadline_at: datetime,
    started_at: datetime | None = None,
    source: str = JobSource.INGEST,
    upload_filename: str = "",
    upload_size: int | None = None,
    upload_hash: str = "",
    metadata: dict[str, str] | None = None,
    worker: str = "",
    prompt_sent: str = "",
) -> Job:
    """Record a request that passed the password and slot checks, as a pending job of
    ``worker`` (the server process running it, see ingest.workers; empty for none known)."""
    return Job.objects.create(
        slot=slot,
        source=source,
        provider=slot.provider,
        operation=slot.operation,
        started_at=started_at or timezone.now(),
        deadline_at=deadline_at,
        upload_filename=upload_filename.replace("\x00", "")[:255],
        upload_size=upload_size,
        upload_hash=upload_hash,
        metadata=metadata or {},
        worker=worker,
        prompt_sent=prompt_sent,
    )


def job_fail(
    *,
    job_id: uuid.UUID,
    error: PhotoChangerError,
    http_status: int | None,
    fallback_original: bool = False,
    **fields: object,
) -> bool:
    """Close a pending job with the error it ended on; False if it was already closed."""
    status = JobStatus.TIMEOUT if error.status == "timeout" else JobStatus.FAILED
    return _job_close(
        job_id=job_id,
        status=status,
        failure_reason=error.failure_reason,
        failure_details=error.details[:500],
        http_status=http_status,
        fallback_original=fallback_original,
        **fields,
    )


def job_succeed(
    *,
    job_id: uuid.UUID,
    result: File | bytes,
    image_format: str,
    ttl_hours: int,
    **fields: object,
) -> StoredMedia | None:
    """Store the result and close the job as done. None if the job was closed meanwhile
    (by cleanup after a stall): its result is then removed, not left without a reader."""
    expires_at = timezone.now() + timedelta(hours=ttl_hours)
    size_bytes = len(result) if isinstance(result, bytes) else result.size
    name = result_file_save(job_id=job_id, content=result, image_format=image_format)
    try:
        with transaction.atomic():
            media = result_media_create(
                job_id=job_id,
                storage_name=name,
                image_format=image_format,
                size_bytes=size_bytes,
                expires_at=expires_at,
            )
            if not _job_close(
                job_id=job_id,
                status=JobStatus.DONE,
                http_status=200,
                result_expires_at=expires_at,
                **fields,
            ):
                raise _JobClosedMeanwhile
    except _JobClosedMeanwhile:
        media_file_delete(storage_name=name)
        return None
    except BaseException:
        # No file may stay behind without a row pointing to it.
        media_file_delete(storage_name=name)
        raise
    result_file_publish(storage_name=name)
    return media


def job_close_as_repeat(*, job_id: uuid.UUID, first_id: uuid.UUID, **fields: object) -> bool:
    """Close a re-send's job as done, answered with the first job's result (it stores none of
    its own); False if it was already closed."""
    return _job_close(
        job_id=job_id, status=JobStatus.DONE, http_status=200, repeat_of_id=first_id, **fields
    )


class _JobClosedMeanwhile(Exception):
    pass


def jobs_close_orphaned(*, now: datetime, this_worker: str) -> list[uuid.UUID]:
    """Close the jobs whose worker stopped: pending, past their deadline, of a worker with no
    live heartbeat; return their ids. A live worker's jobs are left to it, even past their
    deadline (its own deadline handling closes them), and so are jobs of no known worker
    (jobs_close_stale's margin applies to those)."""
    closed = []
    for job_id in _orphaned_jobs(now=now, this_worker=this_worker).values_list("pk", flat=True):
        # Asked again row by row: the worker may have closed it meanwhile.
        orphaned = _orphaned_jobs(now=now, this_worker=this_worker).filter(pk=job_id)
        if orphaned.update(status=JobStatus.FAILED, finished_at=now, **STOPPED):
            closed.append(job_id)
    return closed


def jobs_close_stale(*, now: datetime | None = None) -> int:
    """The last resort of start-up and cleanup_media: close as failed/internal_error the jobs
    jobs_close_orphaned would, and any job pending STALE_MARGIN past its deadline; return how
    many."""
    now = now or timezone.now()
    with transaction.atomic():
        return _stale_jobs(now=now).update(status=JobStatus.FAILED, finished_at=now, **STOPPED)


def jobs_count_stale(*, now: datetime | None = None) -> int:
    """How many jobs jobs_close_stale would close now (cleanup_media --dry-run)."""
    return _stale_jobs(now=now or timezone.now()).count()


def _orphaned_jobs(*, now: datetime, this_worker: str) -> QuerySet[Job]:
    return (
        Job.objects.filter(_orphaned(now=now))
        .filter(status=JobStatus.PENDING)
        .exclude(worker=this_worker)
    )


def _stale_jobs(*, now: datetime) -> QuerySet[Job]:
    return Job.objects.filter(
        Q(deadline_at__lt=now - STALE_MARGIN) | _orphaned(now=now), status=JobStatus.PENDING
    )


def _orphaned(*, now: datetime) -> Q:
    """Past its deadline, of a known worker that is no longer alive."""
    alive = Worker.objects.filter(alive_until__gt=now).values("id")
    return Q(deadline_at__lt=now) & ~Q(worker="") & ~Q(worker__in=alive)


def _job_close(*, job_id: uuid.UUID, status: str, **fields: object) -> bool:
    # Conditional on pending: two closers (the request, cleanup) may race; only one wins.
    updated = Job.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    return updated == 1
