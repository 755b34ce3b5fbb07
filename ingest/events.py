"""Every job that ends is reported: one log line, and an event for the staff's live views.

With REDIS_URL set the channel layer is Redis, so a job finished in one worker process reaches a
stats page connected to another.
"""

from __future__ import annotations

import logging

from channels.layers import get_channel_layer

from ingest.models import Job

logger = logging.getLogger(__name__)
jobs_log = logging.getLogger("photochanger.jobs")

JOBS_GROUP = "jobs"


async def job_report(job: Job) -> None:
    """Log the ended job's line and announce it; a failure here never costs the booth its answer."""
    jobs_log.info(job_log_line(job))
    try:
        await announce(job)
    except Exception:
        logger.exception("could not announce the end of job %s", job.id)


async def announce(job: Job) -> None:
    """Send a finished job to every live view."""
    await get_channel_layer().group_send(
        JOBS_GROUP, {"type": "job.finished", "job": job_event(job)}
    )


def job_event(job: Job) -> dict[str, object]:
    """What the live views get for a finished job."""
    shown = job.repeat_of_id or job.id
    return {
        "id": str(job.id),
        "slot_id": job.slot_id,
        "source": job.source,
        "status": job.status,
        "failure_reason": job.failure_reason,
        "http_status": job.http_status,
        "duration_ms": job.duration_ms,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "repeat_of": str(job.repeat_of_id) if job.repeat_of_id else None,
        # A re-send's guest got the first job's result: that is the one to show.
        "thumbnail_url": f"/api/jobs/{shown}/thumbnail" if job.status == "done" else None,
        "result_url": f"/public/results/{shown}" if job.status == "done" else None,
    }


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
