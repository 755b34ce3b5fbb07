"""What the booth gets back when all goes well, and what the job row keeps."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from ingest.models import Job, JobStatus
from media.models import MediaKind, StoredMedia
from media.services import thumbnail_for_job
from slots.models import GlobalSettings, Slot
from tests.booth import INGEST_PASSWORD, Booth
from tests.images import image_bytes, jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_passthrough_answers_the_same_image_with_job_headers(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-001", photo)

    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(photo))
    assert response.headers["cache-control"] == "no-store"
    job = Job.objects.get()
    assert response.headers["x-job-id"] == str(job.id)
    assert response.headers["x-result-url"] == f"{booth.base_url}/public/results/{job.id}"
    assert job.status == JobStatus.DONE
    assert job.http_status == 200
    assert job.upload_size == len(photo)
    assert job.upload_content_type == "image/jpeg"
    assert job.upload_filename == "IMG_0003.JPG"
    assert job.duration_ms is not None
    assert job.result_expires_at is not None


def test_result_url_downloads_the_result(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-002", photo)

    download = booth.http.get(response.headers["x-result-url"])

    assert download.status_code == 200
    assert download.content == response.content
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["content-disposition"].startswith("attachment;")


def test_result_url_uses_the_public_base_url_when_set(booth: Booth, photo: bytes) -> None:
    GlobalSettings.objects.update(public_base_url="https://photos.example.org/")
    response = booth.post_photo("slot-001", photo)
    job_id = response.headers["x-job-id"]
    assert response.headers["x-result-url"] == f"https://photos.example.org/public/results/{job_id}"


@pytest.mark.parametrize(("format", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_keep_their_format_through_passthrough(
    booth: Booth, format: str, content_type: str
) -> None:
    data = image_bytes(format)
    response = booth.post_photo("slot-001", data, content_type="application/octet-stream")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == data


def test_type_is_decided_by_the_bytes_not_the_part_content_type(booth: Booth) -> None:
    response = booth.post_photo("slot-001", image_bytes("PNG"), content_type="image/jpeg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


def test_grayscale_slot_answers_a_gray_jpeg(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-002", photo)
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as result:
        assert result.format == "JPEG"
        assert result.mode == "L"
        assert result.size == (640, 480)


def test_passthrough_applies_exif_orientation(booth: Booth) -> None:
    rotated = jpeg_bytes((600, 400), exif_orientation=6)  # camera held upright
    response = booth.post_photo("slot-001", rotated)
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as result:
        assert result.size == (400, 600)


def test_booth_metadata_is_kept_on_the_job_and_the_password_is_not(
    booth: Booth, photo: bytes
) -> None:
    fields = {
        "time": "1758217512",
        "user_id": "Acer",
        "id": "CY04N068111304S2L_00000001.",
        "profile": r"C:\Users\Acer\Documents\PhotoboothImages\setup_Serg.xml",
        "name": "DESKTOP-K968T3F",
        "model": "Windows",
        "version": "3.30.2",
    }
    booth.post_photo("slot-001", photo, fields=fields)
    job = Job.objects.get()
    assert job.metadata == fields
    assert INGEST_PASSWORD not in str(job.metadata)


def test_metadata_is_bounded(booth: Booth, photo: bytes) -> None:
    fields = {f"field{number}": "x" * 5000 for number in range(100)}
    response = booth.post_photo("slot-001", photo, fields=fields)
    assert response.status_code == 200
    metadata = Job.objects.get().metadata
    assert len(metadata) == 40
    assert all(len(value) == 1000 for value in metadata.values())


def test_password_in_the_query_string_is_accepted(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo(
        "slot-001", photo, password=None, query={"password": INGEST_PASSWORD}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_matching_hash_is_recorded(booth: Booth, photo: bytes, algorithm: str) -> None:
    booth_hash = hashlib.new(algorithm, photo).hexdigest()
    booth.post_photo("slot-001", photo, fields={"hash": booth_hash.upper()})
    wait_for(lambda: Job.objects.get().upload_sha256 != "")
    job = Job.objects.get()
    assert job.upload_hash_matches is True
    assert job.upload_sha256 == hashlib.sha256(photo).hexdigest()


def test_mismatching_hash_is_recorded_but_accepted_when_not_strict(
    booth: Booth, photo: bytes
) -> None:
    response = booth.post_photo("slot-001", photo, fields={"hash": "7b6c" * 10})
    assert response.status_code == 200
    wait_for(lambda: Job.objects.get().upload_sha256 != "")
    assert Job.objects.get().upload_hash_matches is False


def test_strict_mode_accepts_a_matching_hash(booth: Booth, photo: bytes) -> None:
    GlobalSettings.objects.update(strict_upload_hash=True)
    response = booth.post_photo("slot-001", photo, fields={"hash": hashlib.sha1(photo).hexdigest()})
    assert response.status_code == 200


def test_on_failure_original_answers_the_guest_photo(booth: Booth, photo: bytes) -> None:
    # frame without an overlay template fails in the provider.
    Slot.objects.filter(pk="slot-005").update(is_active=True, on_failure="original")

    response = booth.post_photo("slot-005", photo)

    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["x-photochanger-fallback"] == "original"
    job = Job.objects.get()
    assert response.headers["x-job-id"] == str(job.id)
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "provider_error"
    assert job.fallback_original is True
    assert job.http_status == 200


def test_thumbnail_is_made_when_first_asked_for_and_kept(booth: Booth, photo: bytes) -> None:
    job_id = booth.post_photo("slot-003", photo).headers["x-job-id"]

    thumbnail = thumbnail_for_job(job_id=job_id)

    assert thumbnail.kind == MediaKind.THUMBNAIL
    assert thumbnail.content_type == "image/webp"
    result = StoredMedia.objects.get(job_id=job_id, kind=MediaKind.RESULT)
    assert thumbnail.expires_at == result.expires_at
    with default_storage.open(thumbnail.storage_name) as file, Image.open(file) as image:
        assert max(image.size) == 256
    assert thumbnail_for_job(job_id=job_id) == thumbnail


def test_every_answer_carrying_a_guests_photo_forbids_content_sniffing(
    booth: Booth, photo: bytes
) -> None:
    # A browser must never run an "image" as a page: each answer says so.
    answer = booth.post_photo("slot-002", photo)
    job_id = answer.headers["x-job-id"]

    download = booth.http.get(f"/public/results/{job_id}")
    page = booth.http.get(f"/r/{job_id}")

    for response in (answer, download, page):
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
