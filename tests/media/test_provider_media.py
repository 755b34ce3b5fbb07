"""GET /public/provider-media/{media_id}: images a provider downloads, until the job's deadline."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ingest.jobs import job_start
from media.models import StoredMedia
from media.services import provider_media_publish
from slots.models import Slot
from tests.booth import Booth

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published_photo(booth: Booth, photo: bytes, tmp_path: Path) -> StoredMedia:
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo)
    published = provider_media_publish(
        job_id=job.id, files=[(path, "image/jpeg")], expires_at=job.deadline_at
    )
    job.status = "failed"  # the job itself is not what these tests are about
    job.save()
    return published[0]


def test_provider_media_answers_the_image_until_the_deadline(
    booth: Booth, photo: bytes, published_photo: StoredMedia
) -> None:
    response = booth.http.get(f"/public/provider-media/{published_photo.pk}")
    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["content-type"] == "image/jpeg"


def test_provider_media_is_gone_after_the_deadline(
    booth: Booth, published_photo: StoredMedia
) -> None:
    StoredMedia.objects.filter(pk=published_photo.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = booth.http.get(f"/public/provider-media/{published_photo.pk}")
    assert response.status_code == 410
    assert response.json() == {"status": "error", "failure_reason": "media_expired"}


@pytest.mark.parametrize("media_id", [str(uuid.uuid4()), "nope"])
def test_unknown_provider_media_is_404(booth: Booth, media_id: str) -> None:
    response = booth.http.get(f"/public/provider-media/{media_id}")
    assert response.status_code == 404
    assert response.json()["failure_reason"] == "media_not_found"


def test_a_result_is_not_served_as_provider_media(booth: Booth, photo: bytes) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    result = StoredMedia.objects.get(job_id=job_id)
    assert booth.http.get(f"/public/provider-media/{result.pk}").status_code == 404
