"""A provider call's API key, from several: the least recently used key that is neither resting
nor invalid. A key the provider rate-limits (429, quota) rests for the time the provider asks
and the call goes on at once with another key; a key the provider refuses as invalid is put
aside until staff replace it. Where the keys and their state live is the caller's business
(slots.keys keeps them in the database); drivers see a KeyRing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from providers.base import ProviderError
from providers.retry import RetryLater

T = TypeVar("T")


class ApiKeyRefused(ProviderError):
    """The provider refused the key itself (invalid, revoked, not allowed)."""


@dataclass(frozen=True)
class ApiKey:
    label: str
    secret: str
    fingerprint: str = ""  # what the key's state is kept under; never the key


class KeyRing(Protocol):
    provider: str
    size: int  # how many keys there are, valid or not

    async def take(self) -> ApiKey | None:
        """The key to call with now: the least recently used of those neither resting nor
        invalid; None when every key rests or is invalid."""
        ...

    async def rest(self, key: ApiKey, seconds: float | None) -> None:
        """``key`` was rate-limited: it rests ``seconds`` (the provider's ask) or a moment."""
        ...

    async def refuse(self, key: ApiKey, reason: str) -> None:
        """``key`` was refused as invalid: it is not used again until replaced."""
        ...

    async def served(self, key: ApiKey) -> None:
        """A call with ``key`` went through."""
        ...

    async def next_free_in(self) -> float | None:
        """Seconds until a resting key may be used again; None when every key is invalid."""
        ...


class SingleKey:
    """One key and no memory: a driver called without a ring (its own tests)."""

    def __init__(self, provider: str, secret: str) -> None:
        self.provider = provider
        self.size = 1 if secret else 0
        self._key = ApiKey(label="key", secret=secret) if secret else None
        self._rest: float | None = None  # set while the key rests, until the next round

    async def take(self) -> ApiKey | None:
        return None if self._rest is not None else self._key

    async def rest(self, key: ApiKey, seconds: float | None) -> None:
        self._rest = seconds or 0.0

    async def refuse(self, key: ApiKey, reason: str) -> None:
        self._key = None

    async def served(self, key: ApiKey) -> None:
        pass

    async def next_free_in(self) -> float | None:
        if self._key is None:
            return None
        wait, self._rest = self._rest or 0.0, None
        return wait


async def with_api_key(ring: KeyRing, call: Callable[[str], Awaitable[T]]) -> T:
    """``call`` with the ring's keys in turn until one goes through: a rate-limited key rests
    and an invalid one is put aside, and the next is tried at once. When none is left now,
    RetryLater until the first resting one wakes (with_retries waits if the deadline allows),
    or ProviderError when none is valid."""
    last: ProviderError | None = None
    for _ in range(max(ring.size, 1)):
        key = await ring.take()
        if key is None:
            break
        try:
            result = await call(key.secret)
        except ApiKeyRefused as refused:
            await ring.refuse(key, str(refused))
            last = refused
            continue
        except RetryLater as failure:
            if not failure.rate_limited:
                raise
            await ring.rest(key, failure.delay)
            last = failure
            continue
        await ring.served(key)
        return result
    wait = await ring.next_free_in()
    if wait is None:
        if isinstance(last, ApiKeyRefused):
            raise last
        raise ProviderError(f"no valid {ring.provider} API key is configured")
    message = str(last) if last is not None else f"every {ring.provider} API key is resting"
    # Without the provider's own delay, with_retries backs off as usual (longer than a rest).
    asked = isinstance(last, RetryLater) and last.delay is not None
    raise RetryLater(message, delay=wait if asked or last is None else None, rate_limited=True)
