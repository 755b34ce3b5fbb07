"""Trying a provider call again: only for failures worth it, and only while the deadline allows.

Shared by the drivers that make one HTTP call per attempt (Gemini, OpenAI).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from providers.base import Deadline, ProviderError, ProviderResult

logger = logging.getLogger(__name__)

# After waiting, an attempt needs at least this long to have any chance of producing an image.
MIN_ATTEMPT_SECONDS = 1.0
_FIRST_BACKOFF_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 8.0


class RetryLater(ProviderError):
    """A failure worth another attempt; ``delay`` is the wait the provider asked for, if any."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message, retryable=True)
        self.delay = delay


def backoff(attempt: int) -> float:
    """1 s, 2 s, 4 s… at most 8 s, after attempt number ``attempt``."""
    return min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))


async def with_retries(
    attempt: Callable[[], Awaitable[ProviderResult]],
    *,
    provider: str,
    job_id: str,
    max_attempts: int,
    deadline: Deadline,
) -> ProviderResult:
    """Run ``attempt`` until it succeeds, fails for good, or no retry fits before the deadline."""
    number = 1
    while True:
        try:
            return await attempt()
        except RetryLater as failure:
            wait = failure.delay if failure.delay is not None else backoff(number)
            if number >= max_attempts or deadline.remaining() < wait + MIN_ATTEMPT_SECONDS:
                after = f" (after {number} attempts)" if number > 1 else ""
                raise ProviderError(f"{failure}{after}", retryable=True) from None
            logger.warning(
                "%s attempt %d of %d for job %s failed (%s); retrying in %.1f s",
                provider,
                number,
                max_attempts,
                job_id,
                failure,
                wait,
            )
        await asyncio.sleep(wait)
        number += 1
