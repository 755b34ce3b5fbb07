"""Live events: every job that ends is announced to the staff's live views.

Announced after the booth has its answer (ingest.background.job_finished), from a task of the
server's event loop, so it never delays the answer. With REDIS_URL set the channel layer is
Redis, so a job finished in one worker process reaches a stats page connected to another.
"""

from __future__ import annotations

import logging

from channels.layers import get_channel_layer

from ingest.models import Job

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"


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
