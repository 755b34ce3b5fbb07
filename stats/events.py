"""Live events: every job that ends is announced to the staff's live views.

Announced after the booth has its answer, from a task of the server's event loop, so it never
delays the answer. With REDIS_URL set the channel layer is Redis, so a job finished in one worker
process reaches a stats page connected to another.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer

from ingest.models import Job
from photochanger.executors import run_database_work

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"
_tasks: set[asyncio.Task] = set()


def announce_job_finished(job_id: uuid.UUID) -> None:
    """Schedule the announcement of a finished job; returns at once."""
    task = asyncio.get_running_loop().create_task(_announce(job_id))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def announce(job: Job) -> None:
    """Send a finished job to every live view."""
    await get_channel_layer().group_send(
        JOBS_GROUP, {"type": "job.finished", "job": job_event(job)}
    )


def job_event(job: Job) -> dict[str, object]:
    """What the live views get for a finished job."""
    return {
        "id": str(job.id),
        "slot_id": job.slot_id,
        "source": job.source,
        "status": job.status,
        "failure_reason": job.failure_reason,
        "http_status": job.http_status,
        "duration_ms": job.duration_ms,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "thumbnail_url": f"/api/jobs/{job.id}/thumbnail" if job.status == "done" else None,
        "result_url": f"/public/results/{job.id}" if job.status == "done" else None,
    }


async def _announce(job_id: uuid.UUID) -> None:
    try:
        job = await run_database_work(lambda: Job.objects.filter(pk=job_id).first())
        if job is None or job.status == "pending":
            return
        await announce(job)
    except Exception:
        logger.exception("could not announce job %s", job_id)
