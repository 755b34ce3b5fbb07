"""Work done after the booth has its answer: the job's log line and live announcement, and
the upload's digests.

SHA-256 of a 10 MB photo costs ~27 ms of CPU; the booth does not need it, so it runs after the
answer on a low-priority thread. A crash loses only a digest, never the guest's photo or the
job's final status. (Thumbnails are made when first shown, see media.services.)

Ended jobs are reported in batches, gathered for REPORT_DELAY_SECONDS: one thread hop, one
transaction for the digests and one query for the jobs per batch instead of three hops and two
queries per job. At one booth sending back to back, per-job reporting competed with the next
photo and cost it ~2 ms (bench/ingest.py, 1 MB at concurrency 1).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from django.db import transaction

from ingest.models import Job, JobStatus
from ingest.services import job_record_digests
from ingest.upload import BoothUpload, upload_digests
from photochanger.executors import run_background_work
from stats.events import announce

logger = logging.getLogger(__name__)
jobs_log = logging.getLogger("photochanger.jobs")

# Long enough to gather the jobs of a busy moment, short enough for the live views.
REPORT_DELAY_SECONDS = 0.1


def upload_keep_open(*, upload: BoothUpload, upload_sha256: str) -> BinaryIO | None:
    """A handle on the upload for its digests, unless they are known already.

    Taken before the result is stored: the upload's temporary file is then moved into place
    (a passthrough) or deleted once the answer is sent, and an open handle keeps it readable.
    """
    if upload_sha256:
        return None
    return open(upload.photo.temporary_file_path(), "rb")  # closed by the after-answer work


def job_answered(
    *, job_id: uuid.UUID, upload: BoothUpload, upload_file: BinaryIO | None, upload_sha256: str
) -> None:
    """A job answered with its result: record the upload's digests, then report it."""
    _reporter.add(
        _Ended(job_id=job_id, upload_file=upload_file, booth_hash=upload.hash, sha256=upload_sha256)
    )


def job_finished(job_id: uuid.UUID) -> None:
    """A job has ended: log its one line and announce it to the live views, after the answer."""
    _reporter.add(_Ended(job_id=job_id))


@dataclass(frozen=True)
class _Ended:
    job_id: uuid.UUID
    upload_file: BinaryIO | None = None  # read for the digests, then closed
    booth_hash: str = ""
    sha256: str = ""  # known already when strict mode checked the hash before answering


class _Reporter:
    def __init__(self) -> None:
        self._waiting: list[_Ended] = []
        self._task: asyncio.Task | None = None

    def add(self, ended: _Ended) -> None:
        self._waiting.append(ended)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._drain())

    async def _drain(self) -> None:
        while self._waiting:
            await asyncio.sleep(REPORT_DELAY_SECONDS)
            batch, self._waiting = self._waiting, []
            try:
                jobs = await run_background_work(_batch_record, batch)
                for job in jobs:
                    jobs_log.info(job_log_line(job))
                    await announce(job)
            except Exception:
                logger.exception("could not report the end of %d job(s)", len(batch))


_reporter = _Reporter()


def _batch_record(batch: list[_Ended]) -> list[Job]:
    """Record the batch's digests; return its ended jobs, in the order they ended."""
    digests = {}
    for ended in batch:
        if ended.sha256:
            digests[ended.job_id] = (ended.sha256, True)  # strict mode: it matched
        elif ended.upload_file is not None:
            try:
                with ended.upload_file:
                    found = upload_digests(ended.upload_file, booth_hash=ended.booth_hash)
                digests[ended.job_id] = (found.sha256, found.booth_hash_matches)
            except Exception:
                logger.exception("could not read the upload of job %s", ended.job_id)
    with transaction.atomic():
        for job_id, (sha256, matches) in digests.items():
            job_record_digests(job_id=job_id, sha256=sha256, hash_matches=matches)
    ids = list(dict.fromkeys(ended.job_id for ended in batch))
    jobs = Job.objects.in_bulk(ids)
    return [
        jobs[job_id]
        for job_id in ids
        if job_id in jobs and jobs[job_id].status != JobStatus.PENDING
    ]


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
