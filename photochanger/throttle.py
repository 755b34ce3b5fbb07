"""Refusing clients that keep failing: wrong ingest passwords, guessed result ids.

Counts a client's failures in the cache (Redis when configured, so every worker process agrees);
other clients are never affected. Two limits, each ending by itself:

* failures in a row: ``limit`` failures within ``window_seconds`` block the client (429) for
  ``block_seconds``. A success (``record_success``) starts the row again.
* a budget (optional): ``budget`` failures per ``budget_seconds`` window, a fixed window opened by
  the client's first failure; past it the client is blocked until that window ends. Successes
  do not give it back: a guesser sharing an address with a working booth (a proxy without
  ``--proxy-headers`` makes every booth one address) would otherwise never run out of it.

For the ingest password (``ingest.services.wrong_passwords``) the numbers are: 10 wrong
passwords in a row within 5 minutes block the address for 30 s, after which the right password
goes through again, so a booth given the right password works within 30 s without anyone's
help; and at most 100 wrong passwords an hour (a guesser's share: 10 per 30 s would reach it
within about 5 minutes), after which the address is blocked until its hour ends. A booth still
sending the password from before the last change is not guessing, and uses none of the budget.
The settings INGEST_PASSWORD_FAILURES (10), INGEST_PASSWORD_BLOCK_SECONDS (30) and
INGEST_PASSWORD_HOURLY_FAILURES (100) change them.

A limit with ``listed`` keeps what staff see of each client it refused or counted (failures in
its window, what it last tried, since when, blocked until) in the cache too, with an index of
at most INDEX_SIZE clients, the most recent kept; staff may release a client, which forgets its
counts and its block.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from photochanger.errors import MediaNotFound, RateLimited, ResultNotFound

R = TypeVar("R")

INDEX_SIZE = 300
# The index is one cache value read and written back; concurrent writers take turns through
# this lock (cache.add is atomic in Redis and in the local-memory cache alike).
_INDEX_LOCK_SECONDS = 2
_INDEX_LOCK_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class RefusedClient:
    """What staff see of a client a listed limit counts: its failures in the current window."""

    client: str
    failures: int
    last_tried: str  # e.g. the slot id the booth sent its photo to
    last_reason: str  # e.g. "wrong_password", "old_password"
    since: datetime  # its first failure of the window
    last_failure_at: datetime
    blocked_until: datetime | None  # None when not refused right now


@dataclass(frozen=True)
class FailureLimit:
    name: str
    limit: int  # failures in a row allowed within `window_seconds`
    window_seconds: int
    block_seconds: int  # the block once `limit` is reached
    message: str
    budget: int | None = None  # failures allowed per `budget_seconds`; None for no budget
    budget_seconds: int = 3600
    listed: bool = False  # keep what staff see of each client, and an index of them

    def check(self, client: str) -> None:
        """Raise RateLimited while ``client`` is blocked."""
        blocked_until = cache.get(self._key("blocked", client))
        if blocked_until is not None and blocked_until > time.time():
            retry_after = max(1, math.ceil(blocked_until - time.time()))
            raise RateLimited(self.message, retry_after=retry_after)

    def record_failure(
        self, client: str, *, tried: str = "", reason: str = "", toward_budget: bool = True
    ) -> None:
        """Count a failure; block the client when it reaches a limit. ``toward_budget`` False
        for a failure that is not a guess (it still counts in the row)."""
        now = time.time()
        blocked_until = 0.0
        in_a_row = _count(self._key("row", client), timeout=self.window_seconds)
        if in_a_row >= self.limit:
            blocked_until = now + self.block_seconds
            cache.delete(self._key("row", client))
        since = now
        if self.listed or self.budget is not None:
            since = self._note(client, now=now, tried=tried, reason=reason)
        if self.budget is not None and toward_budget:
            used = _count(self._key("budget", client), timeout=self.budget_seconds)
            if used >= self.budget:
                blocked_until = max(blocked_until, since + self.budget_seconds)
        if blocked_until:
            # Never shortening a longer block already running (the budget's).
            blocked_until = max(blocked_until, cache.get(self._key("blocked", client)) or 0)
            cache.set(
                self._key("blocked", client),
                blocked_until,
                timeout=math.ceil(blocked_until - now),
            )
            if self.listed:
                self._index_change(add={client: since})

    def record_success(self, client: str) -> None:
        """The client got it right: its failures in a row are forgotten (not its budget)."""
        cache.delete(self._key("row", client))

    def refused(self) -> list[RefusedClient]:
        """The listed clients with failures in their current window, blocked ones first, then
        the latest failure first."""
        index: dict[str, float] = cache.get(self._key("index")) or {}
        keys = {
            (client, part): self._key(part, client)
            for client in index
            for part in ("note", "failures", "blocked")
        }
        found = cache.get_many(list(keys.values()))
        now = time.time()
        clients = []
        for client in index:
            note = found.get(keys[(client, "note")])
            blocked_until = found.get(keys[(client, "blocked")])
            if blocked_until is not None and blocked_until <= now:
                blocked_until = None
            if note is None:
                continue
            clients.append(
                RefusedClient(
                    client=client,
                    failures=int(found.get(keys[(client, "failures")]) or 0),
                    last_tried=note["tried"],
                    last_reason=note["reason"],
                    since=_moment(note["since"]),
                    last_failure_at=_moment(note["last"]),
                    blocked_until=_moment(blocked_until) if blocked_until else None,
                )
            )
        clients.sort(key=lambda item: item.last_failure_at, reverse=True)
        clients.sort(key=lambda item: item.blocked_until is None)
        return clients

    def release(self, client: str) -> bool:
        """Forget the client's failures and lift its block; False if nothing was known."""
        keys = [self._key(part, client) for part in ("row", "budget", "failures", "note")]
        keys.append(self._key("blocked", client))
        known = bool(cache.get_many(keys))
        cache.delete_many(keys)
        if self.listed:
            self._index_change(remove=client)
        return known

    def _note(self, client: str, *, now: float, tried: str, reason: str) -> float:
        """Count the failure in the client's window, opening one if none is open, and keep
        what staff see of it; the window's start."""
        first = cache.add(self._key("failures", client), 0, timeout=self.budget_seconds)
        if first:
            # The budget lapses with the window, not an hour after the first guess in it.
            cache.set(self._key("budget", client), 0, timeout=self.budget_seconds)
        _count(self._key("failures", client), timeout=self.budget_seconds)
        note = cache.get(self._key("note", client))
        since = now if first or note is None else note["since"]
        remaining = math.ceil(since + self.budget_seconds - now)
        cache.set(
            self._key("note", client),
            {"since": since, "last": now, "tried": tried[:100], "reason": reason},
            timeout=max(1, remaining),
        )
        if first and self.listed:
            self._index_change(add={client: since})
        return since

    def _index_change(self, *, add: dict[str, float] | None = None, remove: str = "") -> None:
        key = self._key("index")
        with _cache_lock(self._key("index-lock")):
            index: dict[str, float] = cache.get(key) or {}
            index.update(add or {})
            index.pop(remove, None)
            # Every count of a client lapses within budget_seconds of its window's start.
            horizon = time.time() - self.budget_seconds
            current = sorted(
                ((since, client) for client, since in index.items() if since > horizon),
                reverse=True,
            )[:INDEX_SIZE]
            cache.set(
                key, {client: since for since, client in current}, timeout=self.budget_seconds
            )

    def _key(self, part: str, client: str = "") -> str:
        return f"throttle:{self.name}:{part}:{client}" if client else f"throttle:{self.name}:{part}"


def _count(key: str, *, timeout: int) -> int:
    """Add one to a counter that lapses ``timeout`` seconds after its first count."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


@contextmanager
def _cache_lock(key: str) -> Iterator[None]:
    """Turns between processes, through the cache. After waiting long enough, go ahead
    anyway: what it guards is a list for staff, not a count that protects anything."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + _INDEX_LOCK_WAIT_SECONDS
    while not cache.add(key, token, timeout=_INDEX_LOCK_SECONDS):
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


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
