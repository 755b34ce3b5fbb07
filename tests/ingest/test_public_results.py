"""GET /public/results/{job_id}: the guest's download while it lasts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import Job
from media.models import StoredMedia
from slots.models import Slot
from tests.booth import Booth

pytestmark = pytest.mark.django_db(transaction=True)


def test_result_of_a_done_job_downloads_as_an_attachment(booth: Booth, photo: bytes) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]

    response = booth.http.get(f"/public/results/{job_id}")

    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["content-disposition"] == (f'attachment; filename="photo-{job_id}.jpg"')


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fetc%2Fpasswd"])
def test_unknown_id_is_404_result_not_found(booth: Booth, job_id: str) -> None:
    response = booth.http.get(f"/public/results/{job_id}")
    assert response.status_code == 404
    assert response.json()["failure_reason"] in ("result_not_found", "not_found")


def test_failed_job_has_no_result(booth: Booth, photo: bytes) -> None:
    Slot.objects.filter(pk="slot-005").update(is_active=True)  # frame without overlay: fails
    job_id = booth.post_photo("slot-005", photo).headers["x-job-id"]

    response = booth.http.get(f"/public/results/{job_id}")

    assert response.status_code == 404
    assert response.json() == {"status": "error", "failure_reason": "result_not_found"}


def test_expired_result_is_410_even_before_cleanup_runs(booth: Booth, photo: bytes) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    expired = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=job_id).update(result_expires_at=expired)
    StoredMedia.objects.filter(job_id=job_id).update(expires_at=expired)

    response = booth.http.get(f"/public/results/{job_id}")

    assert response.status_code == 410
    assert response.json() == {"status": "error", "failure_reason": "result_expired"}
