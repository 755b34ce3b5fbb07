"""Every row of the SPEC §3 error table, over real HTTP: status, JSON body, and the job row."""

from __future__ import annotations

import httpx
import pytest

from ingest.models import Job, JobStatus
from slots.models import GlobalSettings, Slot
from tests.booth import Booth, multipart_body
from tests.images import image_bytes, jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def assert_error(response: httpx.Response, status: int, failure_reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == ("timeout" if status == 504 else "error")
    assert body["failure_reason"] == failure_reason
    assert "Traceback" not in response.text
    assert "/work/" not in response.text
    assert "site-packages" not in response.text
    return body


def the_only_job() -> Job:
    jobs = list(Job.objects.all())
    assert len(jobs) == 1, jobs
    return jobs[0]


def assert_failed_job(response: httpx.Response, failure_reason: str) -> Job:
    job = the_only_job()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == failure_reason
    assert job.http_status == response.status_code
    assert job.finished_at is not None
    assert response.headers["x-job-id"] == str(job.id)
    return job


def test_malformed_multipart_is_400_without_a_job(booth: Booth) -> None:
    response = booth.http.post(
        "/api/ingest/slot-001",
        content=b"--xyz\r\nthis is not a multipart body",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(response, 400, "invalid_request")
    assert Job.objects.count() == 0


def test_body_that_is_not_multipart_is_400(booth: Booth) -> None:
    response = booth.http.post("/api/ingest/slot-001", json={"password": "x"})
    assert_error(response, 400, "invalid_request")
    assert Job.objects.count() == 0


def test_missing_password_is_400_without_a_job(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-001", photo, password=None)
    body = assert_error(response, 400, "invalid_request")
    assert "password" in body["details"]
    assert Job.objects.count() == 0


def test_missing_file_is_400_with_a_failed_job(booth: Booth) -> None:
    response = booth.post_photo("slot-001", None, fields={"time": "1758217512"})
    assert_error(response, 400, "invalid_request")
    job = assert_failed_job(response, "invalid_request")
    assert job.metadata == {"time": "1758217512"}


def test_empty_file_is_400_with_a_failed_job(booth: Booth) -> None:
    response = booth.post_photo("slot-001", b"")
    assert_error(response, 400, "invalid_request")
    assert_failed_job(response, "invalid_request")


def test_hash_mismatch_in_strict_mode_is_400(booth: Booth, photo: bytes) -> None:
    GlobalSettings.objects.update(strict_upload_hash=True)
    response = booth.post_photo("slot-001", photo, fields={"hash": "0" * 40})
    assert_error(response, 400, "invalid_request")
    assert_failed_job(response, "invalid_request")


def test_wrong_password_is_401_without_a_job(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-001", photo, password="not-the-password")
    assert_error(response, 401, "invalid_password")
    assert Job.objects.count() == 0


def test_wrong_password_on_unknown_slot_is_401_so_slots_cannot_be_probed(
    booth: Booth, photo: bytes
) -> None:
    response = booth.post_photo("slot-999", photo, password="not-the-password")
    assert_error(response, 401, "invalid_password")


def test_wrong_password_in_query_is_401(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-001", photo, password=None, query={"password": "nope"})
    assert_error(response, 401, "invalid_password")
    assert Job.objects.count() == 0


def test_unknown_slot_is_404_without_a_job(booth: Booth, photo: bytes) -> None:
    response = booth.post_photo("slot-016", photo)
    assert_error(response, 404, "slot_not_found")
    assert Job.objects.count() == 0


def test_disabled_slot_is_404_without_a_job(booth: Booth, photo: bytes) -> None:
    Slot.objects.filter(pk="slot-002").update(is_active=False)
    response = booth.post_photo("slot-002", photo)
    assert_error(response, 404, "slot_disabled")
    assert Job.objects.count() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_any_method_but_post_is_405_without_a_job(booth: Booth, method: str) -> None:
    response = booth.http.request(method, "/api/ingest/slot-001")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["status"] == "error"
    assert Job.objects.count() == 0


def test_photo_over_the_slot_limit_is_413_with_a_failed_job(booth: Booth) -> None:
    Slot.objects.filter(pk="slot-001").update(size_limit_mb=1)
    big = jpeg_bytes((2400, 1600), quality=97)
    assert len(big) > 1024 * 1024
    response = booth.post_photo("slot-001", big)
    assert_error(response, 413, "payload_too_large")
    assert_failed_job(response, "payload_too_large")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (image_bytes("GIF"), "image/gif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"just some text, claiming to be a JPEG", "image/jpeg"),
        (jpeg_bytes()[:-2000], "image/jpeg"),
    ],
    ids=["gif", "svg", "text-as-jpeg", "truncated-jpeg"],
)
def test_not_a_whole_jpeg_png_or_webp_is_415_with_a_failed_job(
    booth: Booth, data: bytes, content_type: str
) -> None:
    response = booth.post_photo("slot-001", data, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert_failed_job(response, "unsupported_media_type")


def test_capacity_reached_is_429_with_retry_after(booth: Booth, photo: bytes) -> None:
    GlobalSettings.objects.update(max_concurrent_jobs=0)
    response = booth.post_photo("slot-001", photo)
    body = assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) == body["retry_after"] > 0
    assert_failed_job(response, "rate_limited")


def test_provider_failure_is_502_with_a_failed_job(booth: Booth, photo: bytes) -> None:
    # The frame operation needs an overlay template, and slot-005 has none.
    Slot.objects.filter(pk="slot-005").update(is_active=True)
    response = booth.post_photo("slot-005", photo)
    body = assert_error(response, 502, "provider_error")
    assert "overlay" in body["details"]
    assert_failed_job(response, "provider_error")


def test_provider_without_key_is_502(booth: Booth, photo: bytes) -> None:
    Slot.objects.filter(pk="slot-006").update(
        is_active=True, provider="gemini", operation="generate", settings={"prompt": "a cat"}
    )
    response = booth.post_photo("slot-006", photo)
    body = assert_error(response, 502, "provider_error")
    assert "key" in body["details"]
    assert_failed_job(response, "provider_error")


def test_path_traversal_slot_id_is_a_json_404(booth: Booth, photo: bytes) -> None:
    body, content_type = multipart_body([("password", "x")], [])
    for path in ["/api/ingest/..%2F..%2Fetc%2Fpasswd", "/api/ingest/slot-001/../../admin"]:
        response = booth.http.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code in (401, 404), (path, response.status_code)
        assert response.headers["content-type"] == "application/json"
    assert Job.objects.count() == 0


def test_internal_error_is_500_logged_with_the_job_id(
    booth: Booth, photo: bytes, media_root, caplog: pytest.LogCaptureFixture
) -> None:
    # Storage cannot create its results folder: a fault the code does not expect.
    (media_root / "results").write_text("in the way")
    try:
        response = booth.post_photo("slot-002", photo)
        assert_error(response, 500, "internal_error")
        job = assert_failed_job(response, "internal_error")
        assert f"internal error on job {job.id}" in caplog.text
        caplog.clear()  # the traceback was expected: the booth fixture looks for others
    finally:
        (media_root / "results").unlink()
