"""GET /r/{job_id}: the guest's page, on the real server, as a phone or a staff screen sees it."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import segno
from django.utils import timezone

from ingest.models import Job
from ingest.views import QR_SVG_OPTIONS, time_left_text
from media.models import StoredMedia
from slots.models import GlobalSettings, Slot
from tests.booth import INGEST_PASSWORD, Booth

pytestmark = pytest.mark.django_db(transaction=True)


def done_job_id(booth: Booth, photo: bytes, *, expires_in: timedelta | None = None) -> str:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    if expires_in is not None:
        expires_at = timezone.now() + expires_in
        Job.objects.filter(pk=job_id).update(result_expires_at=expires_at)
        StoredMedia.objects.filter(job_id=job_id).update(expires_at=expires_at)
    return job_id


def qr_svg(url: str) -> str:
    return segno.make(url, micro=False).svg_inline(**QR_SVG_OPTIONS)


def test_page_shows_the_photo_a_download_button_and_the_time_left(
    booth: Booth, photo: bytes
) -> None:
    job_id = done_job_id(booth, photo, expires_in=timedelta(days=2, hours=4, minutes=30))

    response = booth.http.get(f"/r/{job_id}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f'<img class="photo" src="/public/results/{job_id}"' in page
    assert re.search(rf'<a class="button" href="/public/results/{job_id}" download>', page)
    assert "Available until" in page
    assert "2 days 4 hours left" in page
    # The button's link is the download itself.
    download = booth.http.get(f"/public/results/{job_id}")
    assert download.content == photo
    assert download.headers["content-disposition"].startswith("attachment")


def test_qr_code_encodes_the_page_url_as_the_request_reached_it(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo)

    page = booth.http.get(f"/r/{job_id}").text

    assert "<svg" in page
    assert qr_svg(f"{booth.base_url}/r/{job_id}") in page
    assert qr_svg(f"{booth.base_url}/public/results/{job_id}") not in page


def test_qr_code_uses_the_public_base_url_when_staff_set_one(booth: Booth, photo: bytes) -> None:
    GlobalSettings.objects.filter(pk=1).update(public_base_url="https://booth.example.org/")
    job_id = done_job_id(booth, photo)

    page = booth.http.get(f"/r/{job_id}").text

    assert qr_svg(f"https://booth.example.org/r/{job_id}") in page


def test_expired_link_is_a_friendly_410_page(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo, expires_in=timedelta(seconds=-1))

    response = booth.http.get(f"/r/{job_id}")

    assert response.status_code == 410
    assert response.headers["content-type"].startswith("text/html")
    assert "This photo has expired" in response.text
    assert "/public/results/" not in response.text


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fetc%2Fpasswd"])
def test_unknown_link_is_a_friendly_404_page(booth: Booth, job_id: str) -> None:
    response = booth.http.get(f"/r/{job_id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Photo not found" in response.text


def test_failed_job_has_no_page(booth: Booth, photo: bytes) -> None:
    Slot.objects.filter(pk="slot-005").update(is_active=True)  # frame without overlay: fails
    job_id = booth.post_photo("slot-005", photo).headers["x-job-id"]

    response = booth.http.get(f"/r/{job_id}")

    assert response.status_code == 404
    assert "Photo not found" in response.text


def test_page_reveals_nothing_but_the_photo(booth: Booth, photo: bytes, media_root: Path) -> None:
    job_id = done_job_id(booth, photo)
    settings = GlobalSettings.objects.get(pk=1)
    storage_name = StoredMedia.objects.get(job_id=job_id).storage_name

    page = html.unescape(booth.http.get(f"/r/{job_id}").text)

    for secret in (INGEST_PASSWORD, settings.ingest_password_hash, storage_name, str(media_root)):
        assert secret not in page
    assert "slot-001" not in page


def test_page_fits_a_phone_and_loads_nothing_from_elsewhere(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo)

    response = booth.http.get(f"/r/{job_id}")

    page = response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page
    assert "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "img-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in response.headers


def test_page_speaks_russian_to_a_russian_phone(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo, expires_in=timedelta(days=2, hours=4, minutes=30))

    response = booth.http.get(f"/r/{job_id}", headers={"Accept-Language": "ru-RU,ru;q=0.9"})

    assert '<html lang="ru">' in response.text
    assert "Скачать" in response.text
    assert "осталось: 2 дня 4 часа" in response.text
    assert response.headers["content-language"] == "ru"


@pytest.mark.parametrize(
    ("remaining", "text"),
    [
        (timedelta(days=2, hours=4, minutes=59), "2 days 4 hours left"),
        (timedelta(days=1, minutes=30), "1 day left"),
        (timedelta(hours=3, minutes=5, seconds=59), "3 hours 5 minutes left"),
        (timedelta(hours=1), "1 hour left"),
        (timedelta(minutes=12, seconds=59), "12 minutes left"),
        (timedelta(seconds=59), "less than a minute left"),
        (timedelta(seconds=-5), "less than a minute left"),
    ],
)
def test_time_left_reads_in_its_two_largest_units(remaining: timedelta, text: str) -> None:
    assert time_left_text(remaining) == text
