"""Admin pages tested in-process with Django's test client: what the server renders and saves.

What a person does in a real browser (logging in, the Test run panel) is in tests/browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from ingest.jobs import job_fail, job_start, job_succeed
from ingest.models import Job
from photochanger.errors import ProviderFailed, ProviderTimeout
from slots.models import Slot
from slots.services import slots_ensure_defaults
from tests.images import jpeg_bytes


@pytest.fixture(autouse=True)
def _fresh_install(db: None, settings: object, media_root: Path) -> Iterator[None]:
    """The 15 slots and the settings row, no provider key from the environment, and an
    empty storage folder afterwards (the database is rolled back; files are not)."""
    slots_ensure_defaults()
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": "", "openai": ""}
    yield
    for child in media_root.iterdir():
        if child.is_dir() and child.name != "tmp":
            shutil.rmtree(child)


@pytest.fixture
def staff_user() -> object:
    # No usable password: force_login needs none, and hashing one costs most of a second.
    return get_user_model().objects.create_user(
        "operator", password=None, is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff(staff_user: object) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_job() -> Callable[..., Job]:
    """A finished job of ``slot_id``, made by the pipeline's own services."""

    def make(slot_id: str = "slot-001", status: str = "done", **start: object) -> Job:
        job = job_start(
            slot=Slot.objects.get(pk=slot_id),
            deadline_at=timezone.now() + timedelta(seconds=48),
            **start,
        )
        if status == "done":
            job_succeed(
                job_id=job.pk,
                result=jpeg_bytes((320, 240)),
                image_format="JPEG",
                ttl_hours=72,
                duration_ms=140,
                provider_ms=95,
            )
        elif status == "timeout":
            job_fail(job_id=job.pk, error=ProviderTimeout("too slow"), http_status=504)
        else:
            job_fail(job_id=job.pk, error=ProviderFailed("the provider said no"), http_status=502)
        job.refresh_from_db()
        return job

    return make
