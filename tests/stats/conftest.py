"""Jobs made directly as rows, with chosen times, durations and outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus
from media.models import MediaKind, StoredMedia
from slots.services import slots_ensure_defaults
from stats.metrics import metrics_cache_clear
from tests.roles import EVENT_ADMIN, staff_with_role

STAFF_PASSWORD = "staff-password-4711"


@pytest.fixture
def slots(db: None) -> None:
    slots_ensure_defaults()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Gallery snapshots, request counters and the metrics text start empty in every test."""
    cache.clear()
    metrics_cache_clear()
    yield
    cache.clear()
    metrics_cache_clear()


@pytest.fixture(scope="session")
def staff_password_hash() -> str:
    # One slow PBKDF2 per session rather than one per test.
    return make_password(STAFF_PASSWORD)


@pytest.fixture
def staff_user(db: None, staff_password_hash: str) -> object:
    return staff_with_role("staff", EVENT_ADMIN, password_hash=staff_password_hash)


@pytest.fixture
def staff_client(staff_user: object) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def make_job(
    slot_id: str,
    *,
    started_at: datetime,
    status: str = JobStatus.DONE,
    duration_ms: int | None = 1000,
    failure_reason: str = "",
    http_status: int | None = None,
    source: str = JobSource.INGEST,
    result_ttl: timedelta = timedelta(hours=72),
) -> Job:
    """A job row as the pipeline leaves it (no files)."""
    finished = status != JobStatus.PENDING
    finished_at = started_at + timedelta(milliseconds=duration_ms or 0) if finished else None
    if http_status is None and status == JobStatus.DONE:
        http_status = 200
    return Job.objects.create(
        slot_id=slot_id,
        source=source,
        provider="local",
        operation="passthrough",
        status=status,
        failure_reason=failure_reason,
        http_status=http_status if finished else None,
        started_at=started_at,
        deadline_at=started_at + timedelta(seconds=48),
        finished_at=finished_at,
        duration_ms=duration_ms if finished else None,
        result_expires_at=finished_at + result_ttl if status == JobStatus.DONE else None,
    )


def make_media(job: Job | None, kind: str, size_bytes: int, *, name: str) -> StoredMedia:
    """A media row (its file is not needed by the statistics)."""
    return StoredMedia.objects.create(
        kind=kind,
        job=job,
        storage_name=name,
        content_type="image/jpeg" if kind == MediaKind.RESULT else "image/webp",
        size_bytes=size_bytes,
        expires_at=(job.started_at if job else timezone.now()) + timedelta(days=3),
    )
