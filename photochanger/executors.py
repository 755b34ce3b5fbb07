"""The threads that run blocking work for the async request handlers.

* Database work of the ingest path runs on a small fixed pool. Django would run it in a new
  thread per request (asgiref's thread-sensitive context), and a new thread means a new
  database connection; here connections live as long as their thread and are recycled the way
  Django does at the end of a request (a pooled PostgreSQL connection goes back to the pool).
* Pillow and hashlib release the GIL while they work, so image threads use the cores without
  starving the event loop. There are as many as cores: each holds at most one full-size photo
  (a 24 MP photo is 96 MB decoded), so the cores, not the number of booths, bound that memory.
* Reads of stored files wait on a disk or, with media in a bucket, on the network: they run on
  threads of their own, so a slow bucket holds neither the event loop nor a database thread.
* Results on their way to a bucket are uploaded after the answer on threads of their own.
* Work no guest waits for (the digests a job keeps) runs on one thread of its own at a lower CPU
  priority: on the image threads it queued in front of other guests' photos, and with 30 booths
  it made the time beyond the provider ~80 ms worse at p95 (bench/load.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def _lower_priority() -> None:
    # On Linux a thread has its own nice value; elsewhere this is a no-op.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _usable_cores() -> int:
    # The cores this process may run on (a container's CPU set), not the machine's.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 2


database_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="database")
image_executor = ThreadPoolExecutor(
    max_workers=max(2, _usable_cores()), thread_name_prefix="image-work"
)
storage_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="storage")
# Results going to a bucket after their answer (media.staging): a slow bucket queues them here,
# never in front of a guest's download.
upload_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bucket-upload")
unhurried_executor = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="unhurried", initializer=_lower_priority
)


async def run_database_work(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        database_executor, lambda: _with_connection_recycling(function, *args, **kwargs)
    )


def _with_connection_recycling(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


async def run_image_work(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(image_executor, lambda: function(*args, **kwargs))


async def run_unhurried_work(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(unhurried_executor, lambda: function(*args, **kwargs))


async def run_storage_work(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(storage_executor, lambda: function(*args, **kwargs))
