"""This server process as a worker: the jobs it runs are marked as its own, it shows it is
alive, and it closes the jobs of workers that stopped.

A process killed with photos in flight leaves their jobs pending, and nobody is left to close
them at their deadline. So each process started by ``manage.py serve`` registers a Worker row
with a random id, marks every job it starts with that id, and every WORKER_HEARTBEAT_SECONDS
moves its row's ``alive_until`` three heartbeats ahead; then it closes, as failed/
internal_error, the pending jobs past their deadline whose worker's ``alive_until`` has passed
(or whose row is gone). With the default 10 s a killed process's jobs end within about 40 s of
their deadline, by whichever process watches first. A live worker's jobs are never closed this
way, even past their deadline: its own deadline handling closes them. The last resort of
start-up and cleanup_media (ingest.jobs.jobs_close_stale) applies the same rule, and still closes
any job pending two minutes past its deadline (STALE_MARGIN): by then even a live worker has
given up on it, and a job of no known worker (the ASGI app under another server) has no other
closer. ``alive_until`` is written on one host's clock and read on others': their clocks must
agree within a heartbeat or two, as NTP keeps them.

The capacity place of a closed job (a Redis claim, when REDIS_URL is set) is not given back
here: it lapses by itself (ingest.capacity), as every claim of a dead process does.

The heartbeat lives in the database, not in the cache or Redis:

* without REDIS_URL the cache is local memory, which no other process can read, while the
  database is shared in every set-up, the embedded SQLite one included: one way, not two;
* a job and its worker's heartbeat are then judged in one conditional UPDATE, so no answer
  from a second store can be stale or missing in between: with Redis unreachable, every
  worker would look dead (and its live jobs closed) or alive (and orphans kept forever);
* the cost is one UPDATE of one small row per process every 10 s, and a read of pending jobs
  through their partial index.

The work runs as an asyncio task on the server's event loop (so a closed job is announced on
the live feed like any other), with every database step on the database threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from ingest.capacity import capacity
from ingest.events import job_report
from ingest.jobs import jobs_close_orphaned
from ingest.models import Job, Worker
from photochanger.executors import run_database_work

logger = logging.getLogger(__name__)

# A worker silent this many heartbeats is taken as stopped: one late heartbeat (a busy
# database, a long pause of the process) must not cost it its jobs.
SILENT_HEARTBEATS = 3
# A stopped worker's row is kept this long, for who ran what; its jobs no longer need it.
STOPPED_WORKER_KEPT = timedelta(days=1)

# This process's Worker id, chosen when it starts. Only once worker_register has run is it
# used: a process that keeps no heartbeat (the ASGI app under another server, tests run
# in-process) starts jobs of no known worker.
WORKER_ID = secrets.token_hex(16)
_registered = threading.Event()
# asyncio keeps only weak references to tasks.
_watches: set[asyncio.Task[None]] = set()


def worker_register() -> str:
    """Record this process as a live worker; return its id. Every job started from now on in
    this process is marked as its own."""
    _worker_save(now=timezone.now())
    _registered.set()
    return WORKER_ID


def current_worker() -> str:
    """This process's worker id; empty if it keeps no heartbeat."""
    return WORKER_ID if _registered.is_set() else ""


def worker_watch_start(*, loop: asyncio.AbstractEventLoop) -> None:
    """Start the heartbeat and the watch over other workers' jobs on the server's loop
    (after worker_register)."""
    task = loop.create_task(_watch(), name="worker-watch")
    _watches.add(task)
    task.add_done_callback(_watches.discard)


async def _watch() -> None:
    while True:
        try:
            closed = await run_database_work(worker_beat)
        except DatabaseError as error:
            # The next beat tries again; until the database answers no job can close anyway.
            logger.warning("worker %s: no heartbeat: %s", WORKER_ID, error)
            closed = []
        except Exception:
            # The watch outlives any one beat: without it this process would look dead.
            logger.exception("worker %s: the heartbeat failed", WORKER_ID)
            closed = []
        for job in closed:
            await job_report(job)
        await asyncio.sleep(settings.WORKER_HEARTBEAT_SECONDS)


def worker_beat() -> list[Job]:
    """Show this worker alive, then close the jobs of workers that stopped; the closed jobs."""
    now = timezone.now()
    # The row may be gone (a test database flushed, a very long pause): then it is made again.
    if not Worker.objects.filter(pk=WORKER_ID).update(alive_until=now + _silence()):
        _worker_save(now=now)
    closed = jobs_close_orphaned(now=now, this_worker=WORKER_ID)
    if closed:
        logger.warning("closed %d job(s) of stopped workers", len(closed))
    Worker.objects.filter(alive_until__lt=now - STOPPED_WORKER_KEPT).delete()
    jobs = list(Job.objects.filter(pk__in=closed)) if closed else []
    for job in jobs:
        try:
            capacity.release(job_id=job.id, slot_id=job.slot_id)
        except Exception as error:  # Redis unreachable: the claim lapses by itself
            logger.warning("could not give back the place of job %s: %s", job.id, error)
    return jobs


def _worker_save(*, now: datetime) -> None:
    Worker.objects.create(
        id=WORKER_ID,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        started_at=now,
        alive_until=now + _silence(),
    )


def _silence() -> timedelta:
    return timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS * SILENT_HEARTBEATS)
