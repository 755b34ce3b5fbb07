"""Work done after the booth has its answer: the job's log line and live announcement, and
the upload's digests.

SHA-256 of a 10 MB photo costs ~27 ms of CPU; the booth does not need it, so it runs after the
answer on a low-priority thread. A crash loses only a digest, never the guest's photo or the
job's final status. (Thumbnails are made when first shown, see media.services.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import BinaryIO

from ingest.models import Job, JobStatus
from ingest.services import job_record_digests
from ingest.upload import BoothUpload, upload_digests
from photochanger.executors import run_background_work
from stats.events import announce

logger = logging.getLogger(__name__)
jobs_log = logging.getLogger("photochanger.jobs")

_tasks: set[asyncio.Task] = set()


def upload_keep_open(*, upload: BoothUpload, upload_sha256: str) -> BinaryIO | None:
    """A handle on the upload for its digests, unless they are known already.

    Taken before the result is stored: the upload's temporary file is then moved into place
    (a passthrough) or deleted once the answer is sent, and an open handle keeps it readable.
    """
    if upload_sha256:
        return None
    return open(upload.photo.temporary_file_path(), "rb")  # closed by the after-answer task


def run_after_answer(
    *, job_id: uuid.UUID, upload: BoothUpload, upload_file: BinaryIO | None, upload_sha256: str
) -> None:
    _spawn(
        _after_answer(
            job_id=job_id,
            upload_file=upload_file,
            booth_hash=upload.hash,
            upload_sha256=upload_sha256,
        )
    )


async def _after_answer(
    *,
    job_id: uuid.UUID,
    upload_file: BinaryIO | None,
    booth_hash: str,
    upload_sha256: str,
) -> None:
    try:
        if upload_file is None:
            # Strict mode checked the hash before answering: it matched.
            sha256, matches = upload_sha256, True
        else:
            with upload_file:
                digests = await run_background_work(
                    upload_digests, upload_file, booth_hash=booth_hash
                )
            sha256, matches = digests.sha256, digests.booth_hash_matches
        await run_background_work(
            job_record_digests, job_id=job_id, sha256=sha256, hash_matches=matches
        )
    except Exception:
        logger.exception("after-answer work failed for job %s", job_id)


def job_finished(job_id: uuid.UUID) -> None:
    """A job has ended: log its one line and announce it to the live views, after the answer."""
    _spawn(_job_finished(job_id))


async def _job_finished(job_id: uuid.UUID) -> None:
    try:
        job = await run_background_work(lambda: Job.objects.filter(pk=job_id).first())
        if job is None or job.status == JobStatus.PENDING:
            return
        jobs_log.info(job_log_line(job))
        await announce(job)
    except Exception:
        logger.exception("could not report the end of job %s", job_id)


def job_log_line(job: Job) -> str:
    """One structured (logfmt) line: what happened to a job, never a secret or image bytes."""
    fields = {
        "job": job.id,
        "slot": job.slot_id,
        "source": job.source,
        "provider": job.provider,
        "operation": job.operation,
        "status": job.status,
        "reason": job.failure_reason or "-",
        "http": job.http_status if job.http_status is not None else "-",
        "duration_ms": job.duration_ms if job.duration_ms is not None else "-",
        "provider_ms": job.provider_ms if job.provider_ms is not None else "-",
        "upload_bytes": job.upload_size if job.upload_size is not None else "-",
        "fallback": str(job.fallback_original).lower(),
    }
    return "job_finished " + " ".join(f"{name}={value}" for name, value in fields.items())


def _spawn(coroutine: Coroutine) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
