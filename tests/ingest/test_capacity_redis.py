"""The capacity limit kept in Redis, shared by every worker process (real Redis)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from ingest.capacity import RedisCapacity

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def capacity() -> RedisCapacity:
    redis.Redis.from_url(REDIS_URL).flushdb()
    return RedisCapacity(REDIS_URL, claim_seconds=60)


def test_limit_is_shared_by_two_processes_views(capacity: RedisCapacity) -> None:
    other_process = RedisCapacity(REDIS_URL, claim_seconds=60)
    first, second = uuid.uuid4(), uuid.uuid4()

    assert capacity.acquire(job_id=first, slot_id="slot-001", limit=2, slot_limit=None)
    assert other_process.acquire(job_id=second, slot_id="slot-002", limit=2, slot_limit=None)
    assert not capacity.acquire(job_id=uuid.uuid4(), slot_id="slot-003", limit=2, slot_limit=None)

    other_process.release(job_id=second)
    assert capacity.acquire(job_id=uuid.uuid4(), slot_id="slot-003", limit=2, slot_limit=None)


def test_per_slot_cap(capacity: RedisCapacity) -> None:
    assert capacity.acquire(job_id=uuid.uuid4(), slot_id="slot-001", limit=10, slot_limit=1)
    assert not capacity.acquire(job_id=uuid.uuid4(), slot_id="slot-001", limit=10, slot_limit=1)
    assert capacity.acquire(job_id=uuid.uuid4(), slot_id="slot-002", limit=10, slot_limit=1)


def test_claims_of_a_dead_process_lapse_by_themselves() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    dead = RedisCapacity(REDIS_URL, claim_seconds=0.5)
    assert dead.acquire(job_id=uuid.uuid4(), slot_id="slot-001", limit=1, slot_limit=None)
    survivor = RedisCapacity(REDIS_URL, claim_seconds=60)
    assert not survivor.acquire(job_id=uuid.uuid4(), slot_id="slot-001", limit=1, slot_limit=None)

    time.sleep(0.6)  # the dead process never releases; its claim lapses

    assert survivor.acquire(job_id=uuid.uuid4(), slot_id="slot-001", limit=1, slot_limit=None)
    assert survivor.in_flight() == 1
