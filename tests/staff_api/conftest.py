"""Staff API tests run in-process (django.test.Client): no live server is needed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string

from ingest.jobs import job_fail, job_start, job_succeed
from ingest.models import Job
from photochanger.errors import ProviderFailed
from photochanger.tokens import api_token_create
from slots.models import Slot
from slots.services import slots_ensure_defaults
from tests.images import jpeg_bytes
from tests.roles import EVENT_ADMIN, staff_with_role
from tests.staff_api.endpoints import png_upload

BOOTH_HASH = "7b6c683e1d3fd29c8701791c54e3c12a236f5a5b"


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
    return staff_with_role("operator", EVENT_ADMIN)


@pytest.fixture
def staff_token(staff_user: object) -> str:
    return api_token_create(user=staff_user, name="tests")[1]


@pytest.fixture
def api(staff_token: str) -> Client:
    """A client that authenticates with a staff API token."""
    return Client(headers={"Authorization": f"Bearer {staff_token}"})


@pytest.fixture
def staff_session(staff_user: object) -> Client:
    """A browser-like client: a staff session, CSRF checks enforced."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


def csrf_headers(client: Client) -> dict[str, str]:
    """Give ``client`` a CSRF cookie and return the header that matches it, as the admin's
    JavaScript would send."""
    token = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return {"X-CSRFToken": token}


@pytest.fixture
def done_job() -> Job:
    """A booth job that succeeded, with a stored result."""
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"),
        deadline_at=timezone.now() + timedelta(seconds=48),
        upload_filename="IMG_0003.JPG",
        upload_size=51977,
        upload_hash=BOOTH_HASH,
        metadata={"user_id": "Acer", "version": "3.30.2"},
    )
    job_succeed(
        job_id=job.pk,
        result=jpeg_bytes((800, 600)),
        image_format="JPEG",
        ttl_hours=72,
        duration_ms=140,
        provider_ms=95,
        upload_content_type="image/jpeg",
    )
    job.refresh_from_db()
    return job


@pytest.fixture
def failed_job() -> Job:
    """A booth job the provider failed, with no result."""
    job = job_start(
        slot=Slot.objects.get(pk="slot-002"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    job_fail(job_id=job.pk, error=ProviderFailed("the provider said no"), http_status=502)
    job.refresh_from_db()
    return job


@pytest.fixture
def ids(done_job: Job, api: Client) -> dict[str, object]:
    response = api.post(
        "/api/slots/slot-001/template-images", {"role": "overlay", "file": png_upload()}
    )
    return {"image_id": response.json()["id"], "job_id": done_job.pk}
