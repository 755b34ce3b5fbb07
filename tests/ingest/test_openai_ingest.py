"""A booth's photo through an openai slot, with our server in a subprocess calling the fake OpenAI
over loopback: what the booth gets, the job row, and the files left."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from ingest.models import Job, JobStatus
from media.models import MediaKind, StoredMedia
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.fakes.openai import FakeOpenAI, answer_image, error, moderation_blocked
from tests.live import stored_files

# The fixture, bound here so pytest finds it (an import would be flagged as shadowed by ruff).
pytestmark = pytest.mark.django_db(transaction=True)

SLOT_ID = "slot-009"
KEY = "sk-proj-ingest-test-key-0123456789"


@pytest.fixture
def openai_slot(booth: Booth, fake_openai: FakeOpenAI) -> str:
    """slot-009 editing photos on the fake OpenAI."""
    GlobalSettings.objects.update(openai_api_key=KEY)
    Slot.objects.filter(pk=SLOT_ID).update(
        is_active=True,
        provider="openai",
        operation="edit",
        settings={"prompt": "make it a comic strip"},
    )
    return SLOT_ID


def result_files(media_root: Path) -> list[str]:
    return [name for name in stored_files(media_root) if name.startswith("results/")]


def test_edited_image_is_answered_and_stored(
    booth: Booth, photo: bytes, fake_openai: FakeOpenAI, openai_slot: str, media_root: Path
) -> None:
    fake_openai.script(answer_image("PNG", size=(64, 48)))

    response = booth.post_photo(openai_slot, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as result:
        assert (result.format, result.size) == ("PNG", (64, 48))
    job = Job.objects.get()
    assert response.headers["x-job-id"] == str(job.id)
    assert (job.status, job.http_status, job.provider) == (JobStatus.DONE, 200, "openai")
    download = booth.http.get(response.headers["x-result-url"])
    assert download.status_code == 200
    assert download.content == response.content
    stored = StoredMedia.objects.get(job_id=job.id, kind=MediaKind.RESULT)
    assert result_files(media_root) == [stored.storage_name]
    (request,) = fake_openai.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.files[0].data == photo


def test_moderation_refusal_is_502_with_a_failed_job(
    booth: Booth, photo: bytes, fake_openai: FakeOpenAI, openai_slot: str, media_root: Path
) -> None:
    fake_openai.script(moderation_blocked())

    response = booth.post_photo(openai_slot, photo)

    assert response.status_code == 502, response.text
    body = response.json()
    assert body["failure_reason"] == "provider_error"
    assert "moderation" in body["details"]
    job = Job.objects.get()
    assert (job.status, job.failure_reason, job.http_status) == (
        JobStatus.FAILED,
        "provider_error",
        502,
    )
    assert len(fake_openai.requests) == 1
    assert result_files(media_root) == []


def test_rate_limit_is_retried_then_answered(
    booth: Booth, photo: bytes, fake_openai: FakeOpenAI, openai_slot: str
) -> None:
    fake_openai.script(
        error(429, "rate_limit_exceeded", "Rate limit reached", retry_after=0.2), answer_image()
    )

    response = booth.post_photo(openai_slot, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert Job.objects.get().status == JobStatus.DONE
    assert len(fake_openai.requests) == 2


def test_server_error_with_one_attempt_is_502(
    booth: Booth, photo: bytes, fake_openai: FakeOpenAI, openai_slot: str, media_root: Path
) -> None:
    Slot.objects.filter(pk=openai_slot).update(
        settings={
            "prompt": "make it a comic strip",
            "max_attempts": 1,
        }
    )
    fake_openai.script(error(500, "server_error", "The server had an error"))

    response = booth.post_photo(openai_slot, photo)

    assert response.status_code == 502, response.text
    assert response.json()["failure_reason"] == "provider_error"
    assert "HTTP 500" in response.json()["details"]
    job = Job.objects.get()
    assert (job.status, job.failure_reason) == (JobStatus.FAILED, "provider_error")
    assert len(fake_openai.requests) == 1
    assert result_files(media_root) == []
