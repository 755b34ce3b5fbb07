"""Media in S3-compatible object storage, over the real S3 wire protocol (moto's server on
loopback): results, thumbnails and template images go to the bucket, guests download them
through us or from a presigned URL, cleanup_media empties the bucket of what has expired."""

from __future__ import annotations

import base64
import io
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from ingest.jobs import job_start
from media.models import MediaKind, StoredMedia
from media.services import result_media_create
from slots.models import GlobalSettings, Slot, TemplateImage
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini
from tests.images import image_bytes, jpeg_bytes
from tests.ingest.test_results_archive import token_of
from tests.live import ServerProcess, wait_until_consistent
from tests.roles import EVENT_OPERATOR
from tests.s3 import Bucket, SlowLink

pytestmark = pytest.mark.django_db(transaction=True)


def settled(bucket: Bucket, media_root: Path) -> None:
    """Once results are in the bucket: the booth is answered before (media.staging)."""
    wait_until_consistent(media_root, bucket=bucket)


def local_files(media_root: Path) -> list[str]:
    return [
        path.relative_to(media_root).as_posix() for path in media_root.rglob("*") if path.is_file()
    ]


def test_a_passthrough_result_is_kept_in_the_bucket_and_downloaded_from_it(
    s3_booth: Booth, bucket: Bucket, media_root: Path
) -> None:
    photo = jpeg_bytes((640, 480))

    answer = s3_booth.post_photo("slot-001", photo)

    assert answer.status_code == 200, answer.text
    assert answer.content == photo
    job_id = answer.headers["x-job-id"]
    settled(bucket, media_root)
    assert bucket.keys() == {f"results/{job_id}.jpg"}
    assert bucket.read(f"results/{job_id}.jpg") == photo
    assert local_files(media_root) == []  # not even the upload stays on this server's disk
    download = s3_booth.http.get(f"/public/results/{job_id}")
    assert download.status_code == 200
    assert download.content == photo
    assert download.headers["content-disposition"] == f'attachment; filename="photo-{job_id}.jpg"'


def test_a_provider_result_and_its_thumbnail_live_in_the_bucket(
    s3_booth: Booth, bucket: Bucket, media_root: Path
) -> None:
    Slot.objects.filter(pk="slot-002").update(is_active=True)  # local grayscale
    answer = s3_booth.post_photo("slot-002", jpeg_bytes((640, 481)))
    job_id = answer.headers["x-job-id"]

    thumbnail = s3_booth.http.get(f"/api/jobs/{job_id}/thumbnail", headers=token_of(EVENT_OPERATOR))

    assert answer.status_code == 200, answer.text
    assert thumbnail.status_code == 200, thumbnail.text
    settled(bucket, media_root)
    assert bucket.keys() == {f"results/{job_id}.jpg", f"thumbnails/{job_id}.webp"}
    with Image.open(io.BytesIO(bucket.read(f"thumbnails/{job_id}.webp"))) as small:
        assert max(small.size) <= 256
    assert bucket.read(f"results/{job_id}.jpg") == answer.content


def test_gemini_gets_the_template_image_kept_in_the_bucket(
    s3_booth: Booth, bucket: Bucket, fake_gemini: FakeGemini, media_root: Path
) -> None:
    GlobalSettings.objects.update(gemini_api_key="AIzaSy-s3-test-key")
    Slot.objects.filter(pk="slot-006").update(
        is_active=True, provider="gemini", operation="generate", settings={"prompt": "paint it"}
    )
    style = image_bytes("PNG", (40, 30))
    name = default_storage.save("templates/slot-006/style.png", ContentFile(style))
    TemplateImage.objects.create(
        slot_id="slot-006",
        role="style",
        storage_name=name,
        content_type="image/png",
        size_bytes=len(style),
    )

    answer = s3_booth.post_photo("slot-006", jpeg_bytes((640, 482)))

    assert answer.status_code == 200, answer.text
    (request,) = fake_gemini.requests
    parts = request.json["contents"][0]["parts"]
    assert base64.b64decode(parts[1]["inline_data"]["data"]) == style
    result = StoredMedia.objects.get(kind=MediaKind.RESULT)
    settled(bucket, media_root)
    assert bucket.keys() == {name, result.storage_name}
    assert bucket.read(result.storage_name) == answer.content
    TemplateImage.objects.all().delete()
    default_storage.delete(name)


def test_with_redirects_a_guest_downloads_from_a_short_lived_presigned_url(
    s3_booth: Booth, bucket: Bucket, media_root: Path
) -> None:
    photo = jpeg_bytes((640, 483))
    job_id = s3_booth.post_photo("slot-001", photo).headers["x-job-id"]
    settled(bucket, media_root)

    with override_settings(MEDIA_DOWNLOADS="redirect"):
        redirect = s3_booth.http.get(f"/public/results/{job_id}")
        page = s3_booth.http.get(f"/r/{job_id}")

    assert redirect.status_code == 302
    url = redirect.headers["location"]
    assert url.startswith(f"{bucket.endpoint_url}/{bucket.name}/results/{job_id}.jpg?")
    assert "X-Amz-Expires=300" in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.content == photo
    assert fetched.headers["content-disposition"] == f'attachment; filename="photo-{job_id}.jpg"'
    # The object itself is private: without the signature the bucket refuses it.
    assert httpx.get(url.split("?")[0]).status_code == 403
    # The guest page keeps our own URL, and lets the image come from the bucket.
    assert page.status_code == 200
    assert f'src="/public/results/{job_id}"' in page.text
    origin = f"{urlsplit(bucket.endpoint_url).scheme}://{urlsplit(bucket.endpoint_url).netloc}"
    assert f"img-src 'self' {origin}" in page.headers["content-security-policy"]


@pytest.mark.parametrize("downloads", ["stream", "redirect"])
def test_a_result_missing_from_the_bucket_is_404_at_once(
    s3_booth: Booth, bucket: Bucket, downloads: str, media_root: Path
) -> None:
    job_id = s3_booth.post_photo("slot-001", jpeg_bytes((640, 484))).headers["x-job-id"]
    settled(bucket, media_root)
    bucket.client.delete_object(Bucket=bucket.name, Key=f"results/{job_id}.jpg")

    with override_settings(MEDIA_DOWNLOADS=downloads):
        download = s3_booth.http.get(f"/public/results/{job_id}")
        page = s3_booth.http.get(f"/r/{job_id}", headers={"Accept-Language": "en"})

    assert download.status_code == 404
    assert download.json()["failure_reason"] == "result_not_found"
    assert page.status_code == 404
    assert "This photo is not available" in page.text
    StoredMedia.objects.filter(job_id=job_id).delete()


def test_cleanup_media_deletes_expired_results_and_old_orphans_from_the_bucket(
    s3_booth: Booth, bucket: Bucket, media_root: Path
) -> None:
    expired = s3_booth.post_photo("slot-001", jpeg_bytes((640, 485))).headers["x-job-id"]
    kept = s3_booth.post_photo("slot-001", jpeg_bytes((640, 486))).headers["x-job-id"]
    settled(bucket, media_root)
    StoredMedia.objects.filter(job_id=expired).update(expires_at=timezone.now())
    orphan = default_storage.save("results/left-by-a-crash.jpg", ContentFile(b"orphan"))

    call_command("cleanup_media", stdout=io.StringIO())
    assert bucket.keys() == {f"results/{kept}.jpg", orphan}  # the orphan is still young

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        call_command("cleanup_media", stdout=io.StringIO())
    assert bucket.keys() == {f"results/{kept}.jpg"}
    assert [str(job) for job in StoredMedia.objects.values_list("job_id", flat=True)] == [kept]


def test_the_health_check_writes_to_the_bucket(s3_booth: Booth, bucket: Bucket) -> None:
    response = s3_booth.http.get("/healthz")
    assert response.status_code == 200, response.text
    assert bucket.keys() == set()  # the probe file is deleted again


def test_the_health_check_says_when_the_bucket_cannot_be_written(
    configured: None, bucket: Bucket
) -> None:
    missing = Bucket(name=f"{bucket.name}-never-created", endpoint_url=bucket.endpoint_url)
    with missing.as_media_storage():
        response = Booth().http.get("/healthz")

    assert response.status_code == 503, response.text
    assert response.json()["storage"] == "unwritable"
    assert response.json()["database"] == "ok"


def test_the_booth_is_answered_before_the_bucket_has_the_photo(
    configured: None, bucket: Bucket, media_root: Path
) -> None:
    photo = jpeg_bytes((640, 487))
    link = SlowLink(bucket.endpoint_url, delay=1.0)
    try:
        with bucket.as_media_storage(endpoint_url=link.url):
            booth = Booth()
            answer = booth.post_photo("slot-001", photo)
            job_id = answer.headers["x-job-id"]
            # Still on its way over the slow link, and this server serves it meanwhile.
            in_bucket_at_once = bucket.keys()
            download = booth.http.get(f"/public/results/{job_id}")
            wait_until_consistent(media_root, timeout=30, bucket=bucket)
    finally:
        link.close()

    assert answer.status_code == 200, answer.text
    assert answer.content == photo
    assert in_bucket_at_once == set()
    assert download.status_code == 200
    assert download.content == photo
    assert bucket.read(f"results/{job_id}.jpg") == photo
    assert local_files(media_root) == []


def test_a_server_sends_the_results_an_earlier_stop_left_on_its_disk(
    configured: None, bucket: Bucket, tmp_path: Path
) -> None:
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=30)
    )
    name = f"results/{job.pk}.jpg"
    photo = jpeg_bytes((640, 488))
    result_media_create(
        job_id=job.pk,
        storage_name=name,
        image_format="JPEG",
        size_bytes=len(photo),
        expires_at=timezone.now() + timedelta(hours=72),
    )
    # What a server killed after answering left in its upload folder: this result, and one
    # whose job ended without it.
    staged = tmp_path / "media" / "tmp" / "staged" / "results"
    staged.mkdir(parents=True)
    (staged / f"{job.pk}.jpg").write_bytes(photo)
    (staged / "without-a-row.jpg").write_bytes(b"left behind")

    server = ServerProcess.start(
        media_root=tmp_path / "media", data_dir=tmp_path, extra_env=bucket.env
    )
    try:
        deadline = time.monotonic() + 30
        while bucket.keys() != {name} or any(staged.iterdir()):
            assert time.monotonic() < deadline, (bucket.keys(), list(staged.iterdir()))
            time.sleep(0.1)
        download = httpx.get(f"{server.base_url}/public/results/{job.pk}")
        log = server.new_log()
    finally:
        server.stop()

    assert bucket.read(name) == photo
    assert download.content == photo
    assert "Sending 1 result(s) an earlier stop left to the bucket." in log
    assert "Traceback" not in log
