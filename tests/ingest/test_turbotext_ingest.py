"""A Turbotext slot end to end: a booth posts to our real server, which calls the fake Turbotext.

Turbotext fetches the photo and templates by URL, so these tests set the public base URL to the
live server's own address. Each test checks what the booth gets, the job row, and that a failure
leaves no result behind.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from ingest.models import Job, JobStatus
from media.models import MediaKind, StoredMedia
from slots.models import GlobalSettings, Slot, TemplateImage
from tests.fakes.turbotext import (
    FakeTurbotext,
    done,
    fail,
    fail_on_result,
    never_finishes,
    reconnect_then,
)
from tests.images import image_bytes
from tests.live import LiveBooth as Booth
from tests.live import ServerProcess, stored_files

# The fixture, bound here so pytest finds it (an import would be flagged as shadowed by ruff).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


SLOT = "slot-009"
KEY = "tt-ingest-test-key-8d41c0b2e6"
PROMPT = "a knight in shining armour"
# Below the 5 s staff may set: the rule is the same at any length, and the suite waits less.
DEADLINE_SECONDS = 2


@pytest.fixture
def turbotext_slot(booth: Booth, fake_turbotext: FakeTurbotext) -> str:
    """slot-009 on the fake Turbotext (generate_image2image), with a key and a public base URL."""
    GlobalSettings.objects.update(turbotext_api_key=KEY, public_base_url=booth.base_url)
    Slot.objects.filter(pk=SLOT).update(
        is_active=True,
        provider="turbotext",
        operation="generate_image2image",
        settings={
            "content": PROMPT,
            "poll_seconds": 0.05,
            # Turbotext jobs take tens of seconds; the fake's take none, and the deadline
            # tests run with a 2 s T_sync_response.
            "min_queue_seconds": 1,
        },
    )
    return SLOT


@pytest.fixture
def background_template(turbotext_slot: str) -> Iterator[bytes]:
    """A background template image on the slot, stored as staff would upload it."""
    data = image_bytes("PNG", (40, 30))
    name = default_storage.save(f"templates/{turbotext_slot}/background.png", ContentFile(data))
    template = TemplateImage.objects.create(
        slot_id=turbotext_slot,
        role="background",
        storage_name=name,
        content_type="image/png",
        size_bytes=len(data),
    )
    yield data
    # Before the booth fixture's check that every stored file has a media row.
    template.delete()
    default_storage.delete(name)


def the_job() -> Job:
    jobs = list(Job.objects.all())
    assert len(jobs) == 1, jobs
    return jobs[0]


def assert_provider_error(response: httpx.Response, media_root: Path) -> tuple[str, Job]:
    """A 502 provider_error with a failed job and no result; returns the details and the job."""
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["failure_reason"] == "provider_error"
    job = the_job()
    assert response.headers["x-job-id"] == str(job.id)
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "provider_error"
    assert job.http_status == 502
    assert_no_result(job, media_root)
    return body.get("details", ""), job


def assert_no_result(job: Job, media_root: Path) -> None:
    assert not StoredMedia.objects.filter(job=job, kind=MediaKind.RESULT).exists()
    assert not any(name.startswith("results/") for name in stored_files(media_root))


def test_finished_queue_is_answered_stored_and_downloadable(
    booth: Booth, photo: bytes, fake_turbotext: FakeTurbotext, turbotext_slot: str
) -> None:
    fake_turbotext.script(reconnect_then(2, done("PNG")))

    response = booth.post_photo(turbotext_slot, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    (queue,) = fake_turbotext.queues
    assert response.content == fake_turbotext.result_image(queue)
    job = the_job()
    assert response.headers["x-job-id"] == str(job.id)
    assert (job.status, job.http_status, job.failure_reason) == (JobStatus.DONE, 200, "")
    download = booth.http.get(response.headers["x-result-url"])
    assert download.status_code == 200
    assert download.content == response.content


def test_turbotext_gets_a_photo_url_that_serves_the_booths_photo(
    booth: Booth, photo: bytes, fake_turbotext: FakeTurbotext, turbotext_slot: str
) -> None:
    response = booth.post_photo(turbotext_slot, photo)

    assert response.status_code == 200, response.text
    create = fake_turbotext.requests_with("create_queue")[0]
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.form["content"] == PROMPT
    photo_url = create.form["url"]
    assert photo_url.startswith(f"{booth.base_url}/public/provider-media/")
    # Within the job's deadline the link still works, as Turbotext would fetch it.
    fetched = booth.http.get(photo_url)
    assert fetched.status_code == 200
    assert fetched.content == photo


def test_deepfake_slot_sends_the_background_as_url_and_the_photo_as_face_donor(
    booth: Booth,
    photo: bytes,
    fake_turbotext: FakeTurbotext,
    turbotext_slot: str,
    background_template: bytes,
) -> None:
    Slot.objects.filter(pk=turbotext_slot).update(operation="deepfake_photo")

    response = booth.post_photo(turbotext_slot, photo)

    assert response.status_code == 200, response.text
    form = fake_turbotext.queues[0].form
    assert booth.http.get(form["url"]).content == background_template
    assert booth.http.get(form["url_image_target"]).content == photo
    assert form["face_restore"] == "True"


def test_limit_is_502_naming_the_account_limit_and_the_key_is_never_shown(
    booth: Booth,
    photo: bytes,
    fake_turbotext: FakeTurbotext,
    turbotext_slot: str,
    media_root: Path,
    server_process: ServerProcess,
) -> None:
    fake_turbotext.script(fail("LIMIT"))

    response = booth.post_photo(turbotext_slot, photo)

    details, job = assert_provider_error(response, media_root)
    assert "limit" in details
    assert "LIMIT" in job.failure_details
    assert len(fake_turbotext.requests_with("create_queue")) == 1
    assert KEY not in response.text
    assert KEY not in job.failure_details
    log = server_process.new_log()  # read here, so the booth fixture's own check sees none of it
    assert KEY not in log
    assert "Traceback" not in log


def test_face_not_detected_is_502_saying_so(
    booth: Booth,
    photo: bytes,
    fake_turbotext: FakeTurbotext,
    turbotext_slot: str,
    background_template: bytes,
    media_root: Path,
) -> None:
    Slot.objects.filter(pk=turbotext_slot).update(operation="deepfake_photo")
    fake_turbotext.script(reconnect_then(1, fail_on_result("face_not_detected")))

    response = booth.post_photo(turbotext_slot, photo)

    details, _ = assert_provider_error(response, media_root)
    assert "no face" in details
    assert len(fake_turbotext.queues) == 1


def test_queue_that_never_finishes_is_504_at_the_deadline_and_the_poll_is_dropped(
    booth: Booth,
    photo: bytes,
    fake_turbotext: FakeTurbotext,
    turbotext_slot: str,
    media_root: Path,
) -> None:
    GlobalSettings.objects.update(sync_response_seconds=DEADLINE_SECONDS)
    fake_turbotext.script(never_finishes())

    started = time.monotonic()
    response = booth.post_photo(turbotext_slot, photo)
    elapsed = time.monotonic() - started

    assert response.status_code == 504, response.text
    assert response.json()["status"] == "timeout"
    assert response.json()["failure_reason"] == "provider_timeout"
    assert DEADLINE_SECONDS - 1 <= elapsed <= DEADLINE_SECONDS + 1
    job = the_job()
    assert (job.status, job.http_status) == (JobStatus.TIMEOUT, 504)
    assert job.failure_reason == "provider_timeout"
    assert_no_result(job, media_root)
    until = time.monotonic() + 2
    while fake_turbotext.disconnects < 1 and time.monotonic() < until:
        time.sleep(0.05)
    assert fake_turbotext.disconnects == 1


def test_missing_public_base_url_is_502_saying_what_to_set(
    booth: Booth,
    photo: bytes,
    fake_turbotext: FakeTurbotext,
    turbotext_slot: str,
    media_root: Path,
) -> None:
    GlobalSettings.objects.update(public_base_url="")

    response = booth.post_photo(turbotext_slot, photo)

    details, _ = assert_provider_error(response, media_root)
    assert "public base URL" in details
    assert fake_turbotext.requests == []


def test_result_is_answered_as_its_real_format(
    booth: Booth, photo: bytes, fake_turbotext: FakeTurbotext, turbotext_slot: str
) -> None:
    fake_turbotext.script(done("JPEG", where="image_list_relative"))

    response = booth.post_photo(turbotext_slot, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("JPEG", (48, 32))
