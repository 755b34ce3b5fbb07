"""How many provider calls may be in flight: globally and, optionally, per slot.

Over the limit a request is refused at once (429), never queued: a guest waiting in a queue
would see the booth's own timeout instead of a clear answer. With REDIS_URL set the limit holds
across every worker process and host; otherwise within the one process.
"""

from __future__ import annotations

import threading
import time
import uuid

RETRY_AFTER_SECONDS = 5


class InProcessCapacity:
    """The limit within one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots_by_job: dict[uuid.UUID, str] = {}

    def acquire(
        self, *, job_id: uuid.UUID, slot_id: str, limit: int, slot_limit: int | None
    ) -> bool:
        with self._lock:
            if len(self._slots_by_job) >= limit:
                return False
            if slot_limit is not None:
                in_slot = sum(1 for slot in self._slots_by_job.values() if slot == slot_id)
                if in_slot >= slot_limit:
                    return False
            self._slots_by_job[job_id] = slot_id
            return True

    def release(self, *, job_id: uuid.UUID, slot_id: str | None = None) -> None:
        # A stopped process's places went with it: only this process's own are held here.
        with self._lock:
            self._slots_by_job.pop(job_id, None)

    def in_flight(self) -> int:
        return len(self._slots_by_job)


# Members are job ids scored by when their claim lapses (deadline plus a margin), so a process
# that dies holding claims frees them by itself once their jobs could no longer be running.
_ACQUIRE = """
local now, limit, slot_limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
if slot_limit >= 0 and redis.call('ZCARD', KEYS[2]) >= slot_limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 1
"""


class RedisCapacity:
    """The limit across every worker process and host sharing one Redis."""

    def __init__(self, url: str, *, claim_seconds: float) -> None:
        import redis  # only needed when Redis is configured

        self._redis = redis.Redis.from_url(url)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._claim_seconds = claim_seconds
        self._slot_of: dict[uuid.UUID, str] = {}

    def acquire(
        self, *, job_id: uuid.UUID, slot_id: str, limit: int, slot_limit: int | None
    ) -> bool:
        now = time.time()
        granted = self._acquire(
            keys=[_GLOBAL_KEY, _SLOT_KEY.format(slot_id)],
            args=[
                now,
                limit,
                -1 if slot_limit is None else slot_limit,
                now + self._claim_seconds,
                str(job_id),
            ],
        )
        if granted:
            self._slot_of[job_id] = slot_id
        return bool(granted)

    def release(self, *, job_id: uuid.UUID, slot_id: str | None = None) -> None:
        """Give the job's place back; ``slot_id`` names the slot of a job another process
        admitted (one that stopped: ingest.workers)."""
        slot_id = self._slot_of.pop(job_id, None) or slot_id
        if slot_id is None:
            return
        pipe = self._redis.pipeline()
        pipe.zrem(_GLOBAL_KEY, str(job_id))
        pipe.zrem(_SLOT_KEY.format(slot_id), str(job_id))
        pipe.execute()

    def in_flight(self) -> int:
        return int(self._redis.zcount(_GLOBAL_KEY, time.time(), "+inf"))


_GLOBAL_KEY = "photochanger:capacity"
_SLOT_KEY = "photochanger:capacity:{}"
# The longest a job can run (T_sync_response at most 120 s) and then some.
_CLAIM_SECONDS = 180


def _capacity() -> InProcessCapacity | RedisCapacity:
    from django.conf import settings

    if settings.REDIS_URL:
        return RedisCapacity(settings.REDIS_URL, claim_seconds=_CLAIM_SECONDS)
    return InProcessCapacity()


capacity = _capacity()
