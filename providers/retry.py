"""Trying a provider call again: only for failures worth it, and only while the deadline allows.

One loop for the drivers that call a provider over HTTP. Gemini and OpenAI make one call per
attempt and back off from one second; a Turbotext attempt is a whole queued job, so it backs off
from the slot's ``poll_seconds`` and starts (the first one too) only while ``min_queue_seconds``
remain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from providers.base import Deadline, ProviderError, ProviderResult

logger = logging.getLogger(__name__)

# After waiting, an attempt needs at least this long to have any chance of producing an image.
MIN_ATTEMPT_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 8.0


class RetryLater(ProviderError):
    """A failure worth another attempt; ``delay`` is the wait the provider asked for, if any;
    ``rate_limited`` when the key used is the reason (429, quota): another key may go through
    (providers.keys)."""

    def __init__(
        self, message: str, *, delay: float | None = None, rate_limited: bool = False
    ) -> None:
        super().__init__(message, retryable=True)
        self.delay = delay
        self.rate_limited = rate_limited


def backoff(attempt: int, *, first: float = FIRST_BACKOFF_SECONDS) -> float:
    """``first``, twice that, four times… at most 8 s, after attempt number ``attempt``."""
    return min(_MAX_BACKOFF_SECONDS, first * 2 ** (attempt - 1))


async def with_retries(
    attempt: Callable[[], Awaitable[ProviderResult]],
    *,
    provider: str,
    job_id: str,
    max_attempts: int,
    deadline: Deadline,
    first_backoff: float = FIRST_BACKOFF_SECONDS,
    attempt_seconds: float = MIN_ATTEMPT_SECONDS,
    first_attempt_seconds: float = 0.0,
) -> ProviderResult:
    """Run ``attempt`` until it succeeds, fails for good, or no retry fits before the deadline.

    A retry waits what the provider asked for, else ``backoff`` from ``first_backoff``, and is
    made only if ``attempt_seconds`` remain after the wait. The first attempt is made only if
    ``first_attempt_seconds`` remain (by default it always is)."""
    left = deadline.remaining()
    if left < first_attempt_seconds:
        raise ProviderError(
            f"not enough time left to call {provider} ({left:.1f} s left, "
            f"{first_attempt_seconds:g} s needed)",
            retryable=True,
        )
    number = 1
    while True:
        try:
            return await attempt()
        except RetryLater as failure:
            wait = (
                failure.delay if failure.delay is not None else backoff(number, first=first_backoff)
            )
            after = f" (after {number} attempts)" if number > 1 else ""
            if number >= max_attempts:
                raise ProviderError(f"{failure}{after}", retryable=True) from None
            if deadline.remaining() < wait + attempt_seconds:
                raise ProviderError(
                    f"{failure}{after}; not enough time left for another attempt", retryable=True
                ) from None
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
