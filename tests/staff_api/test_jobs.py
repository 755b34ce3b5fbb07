"""GET /api/jobs/{job_id} and GET /api/jobs/{job_id}/thumbnail."""

from __future__ import annotations

import io
import uuid
from datetime import datetime

import pytest
from django.test import Client
from PIL import Image

from ingest.models import Job
from media.models import MediaKind, StoredMedia
from slots.models import GlobalSettings
from tests.staff_api.conftest import BOOTH_HASH

pytestmark = pytest.mark.django_db


def test_job_shows_its_fields_and_result(api: Client, done_job: Job) -> None:
    response = api.get(f"/api/jobs/{done_job.pk}")

    assert response.status_code == 200
    job = response.json()
    assert job["id"] == str(done_job.pk)
    assert (job["slot"], job["source"], job["provider"], job["operation"]) == (
        "slot-001",
        "ingest",
        done_job.provider,
        done_job.operation,
    )
    assert (job["status"], job["failure_reason"], job["failure_details"]) == ("done", None, None)
    assert (job["http_status"], job["fallback_original"]) == (200, False)
    assert (job["duration_ms"], job["provider_ms"]) == (140, 95)
    started, finished, deadline = (
        datetime.fromisoformat(job[name]) for name in ("started_at", "finished_at", "deadline_at")
    )
    assert started <= finished < deadline
    assert job["upload"] == {
        "filename": "IMG_0003.JPG",
        "size": 51977,
        "content_type": "image/jpeg",
        "sha256": None,
        "hash": BOOTH_HASH,
        "hash_matches": None,
    }
    assert job["metadata"] == {"user_id": "Acer", "version": "3.30.2"}
    result = StoredMedia.objects.get(job=done_job, kind=MediaKind.RESULT)
    assert job["result"] == {
        "url": f"http://testserver/public/results/{done_job.pk}",
        "expires_at": job["result"]["expires_at"],
        "content_type": "image/jpeg",
        "size_bytes": result.size_bytes,
    }
    assert job["result"]["expires_at"] is not None
    assert job["thumbnail_url"] == f"http://testserver/api/jobs/{done_job.pk}/thumbnail"


def test_result_url_uses_the_public_base_url_when_set(api: Client, done_job: Job) -> None:
    GlobalSettings.objects.update(public_base_url="https://photos.example.org/")

    job = api.get(f"/api/jobs/{done_job.pk}").json()

    assert job["result"]["url"] == f"https://photos.example.org/public/results/{done_job.pk}"


@pytest.mark.django_db(transaction=True)  # the download reads on its own database thread
def test_result_url_downloads_the_result(api: Client, done_job: Job) -> None:
    url = api.get(f"/api/jobs/{done_job.pk}").json()["result"]["url"]

    response = Client().get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_failed_job_shows_why_and_has_no_result(api: Client, failed_job: Job) -> None:
    job = api.get(f"/api/jobs/{failed_job.pk}").json()

    assert (job["status"], job["failure_reason"], job["http_status"]) == (
        "failed",
        "provider_error",
        502,
    )
    assert job["failure_details"] == "the provider said no"
    assert job["result"] is None
    assert job["thumbnail_url"] is None


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_job_is_404_job_not_found(api: Client, job_id: str) -> None:
    response = api.get(f"/api/jobs/{job_id}")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "job_not_found"


def test_thumbnail_is_a_small_webp_made_on_first_request(api: Client, done_job: Job) -> None:
    assert not StoredMedia.objects.filter(job=done_job, kind=MediaKind.THUMBNAIL).exists()

    response = api.get(f"/api/jobs/{done_job.pk}/thumbnail")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert thumbnail.format == "WEBP"
        assert max(thumbnail.size) <= 256
    assert StoredMedia.objects.filter(job=done_job, kind=MediaKind.THUMBNAIL).count() == 1


def test_thumbnail_is_made_once(api: Client, done_job: Job) -> None:
    first = api.get(f"/api/jobs/{done_job.pk}/thumbnail")
    second = api.get(f"/api/jobs/{done_job.pk}/thumbnail")

    assert first.content == second.content
    assert StoredMedia.objects.filter(job=done_job, kind=MediaKind.THUMBNAIL).count() == 1


def test_thumbnail_of_a_job_without_result_is_404(api: Client, failed_job: Job) -> None:
    response = api.get(f"/api/jobs/{failed_job.pk}/thumbnail")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "result_not_found"


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_thumbnail_of_unknown_job_is_404_job_not_found(api: Client, job_id: str) -> None:
    response = api.get(f"/api/jobs/{job_id}/thumbnail")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "job_not_found"
