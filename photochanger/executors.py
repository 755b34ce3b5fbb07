"""Threads for CPU-heavy image work, kept apart from the thread that runs database calls.

Pillow releases the GIL while it decodes, resizes and encodes, so two workers use both cores
without starving the event loop or queuing behind ORM calls.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

image_executor = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="image-work"
)


async def run_image_work(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(image_executor, lambda: function(*args, **kwargs))
