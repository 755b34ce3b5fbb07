"""Refusing clients that keep failing: wrong ingest passwords, guessed result ids.

Counts a client's failures in a time window (in the cache: Redis when configured, so every
worker process agrees); past the limit the client is refused with 429 until a block time has
passed. Other clients are never affected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from photochanger.errors import MediaNotFound, RateLimited, ResultNotFound

R = TypeVar("R")


@dataclass(frozen=True)
class FailureLimit:
    name: str
    limit: int  # failures allowed within `window_seconds`
    window_seconds: int
    block_seconds: int
    message: str

    def check(self, client: str) -> None:
        """Raise RateLimited while ``client`` is blocked."""
        blocked_until = cache.get(self._blocked_key(client))
        if blocked_until is not None:
            retry_after = max(1, int(blocked_until - time.time()))
            raise RateLimited(self.message, retry_after=retry_after)

    def record_failure(self, client: str) -> None:
        key = f"throttle:{self.name}:{client}"
        cache.add(key, 0, timeout=self.window_seconds)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window_seconds)
            failures = 1
        if failures >= self.limit:
            cache.set(
                self._blocked_key(client),
                time.time() + self.block_seconds,
                timeout=self.block_seconds,
            )
            cache.delete(key)

    def _blocked_key(self, client: str) -> str:
        return f"throttle:{self.name}:blocked:{client}"


def client_address(request: HttpRequest) -> str:
    # The server puts the real client there (daphne honours X-Forwarded-For only when
    # `serve --proxy-headers` says a trusted proxy is in front).
    return request.META.get("REMOTE_ADDR") or "unknown"


# Result and provider-media ids are UUID4s; a client asking for many unknown ones is guessing.
UNKNOWN_LINKS = FailureLimit(
    name="unknown-links",
    limit=settings.RESULT_GUESS_FAILURES,
    window_seconds=300,
    block_seconds=300,
    message="too many unknown links from this address; try again later",
)


def guarded_lookup(lookup: Callable[..., R], *, client: str, **kwargs: object) -> R:
    """Run a public lookup, refusing clients that keep asking for ids that do not exist."""
    UNKNOWN_LINKS.check(client)
    try:
        return lookup(**kwargs)
    except (ResultNotFound, MediaNotFound):
        UNKNOWN_LINKS.record_failure(client)
        raise
