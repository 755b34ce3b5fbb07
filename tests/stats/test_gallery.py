"""The public event gallery: shared by staff for a while, latest results per active slot,
403 when not shared, rate-limited per client and cached for a few seconds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.test import Client, override_settings
from django.utils import timezone
from PIL import Image

from ingest.models import Job, JobSource, JobStatus
from media.models import StoredMedia
from media.services import result_file_save, result_media_create
from slots.models import Slot
from stats.models import GallerySharing
from stats.services import gallery_share, gallery_stop
from tests.images import jpeg_bytes
from tests.stats.conftest import make_job

pytestmark = pytest.mark.usefixtures("slots")


@pytest.fixture(autouse=True)
def _remove_files(db: None) -> Iterator[None]:
    """Rows roll back after each test; the files they pointed to must go too."""
    yield
    for media in StoredMedia.objects.all():
        default_storage.delete(media.storage_name)


def result_job(slot_id: str, *, minutes_ago: float, **fields: object) -> Job:
    job = make_job(slot_id, started_at=timezone.now() - timedelta(minutes=minutes_ago), **fields)
    if job.status == JobStatus.DONE:
        name = result_file_save(job_id=job.pk, content=jpeg_bytes(), image_format="JPEG")
        result_media_create(
            job_id=job.pk,
            storage_name=name,
            image_format="JPEG",
            size_bytes=default_storage.size(name),
            expires_at=job.result_expires_at,
        )
    return job


@pytest.fixture
def shared(staff_user: object) -> None:
    gallery_share(minutes=30, user=staff_user)


def test_gallery_is_403_when_not_shared() -> None:
    client = Client()
    page = client.get("/gallery/")
    assert page.status_code == 403
    assert b"not shared" in page.content
    data = client.get("/gallery/data")
    assert data.status_code == 403
    assert data.json()["failure_reason"] == "gallery_not_shared"


def test_shared_gallery_shows_the_latest_results_of_active_slots(shared: None) -> None:
    older = result_job("slot-001", minutes_ago=10)
    newer = result_job("slot-001", minutes_ago=2)
    second = result_job("slot-002", minutes_ago=5)
    result_job("slot-001", minutes_ago=1, source=JobSource.TEST_RUN)
    result_job("slot-001", minutes_ago=1, status=JobStatus.FAILED, failure_reason="provider_error")
    result_job("slot-003", minutes_ago=1, result_ttl=timedelta(seconds=1))  # already expired
    Slot.objects.filter(pk="slot-010").update(is_active=False)
    result_job("slot-010", minutes_ago=1)

    data = Client().get("/gallery/data").json()

    assert [slot["slot_id"] for slot in data["slots"]] == ["slot-001", "slot-002"]
    assert [result["job_id"] for result in data["slots"][0]["results"]] == [
        str(newer.pk),
        str(older.pk),
    ]
    first = data["slots"][0]["results"][0]
    assert first["thumbnail_url"] == f"/gallery/thumbnails/{newer.pk}"
    assert first["result_url"] == f"/public/results/{newer.pk}"
    assert data["slots"][1]["display_name"] == "Black and white"
    assert data["slots"][1]["results"][0]["job_id"] == str(second.pk)


def test_gallery_page_shows_the_results_without_script(shared: None) -> None:
    job = result_job("slot-001", minutes_ago=1)

    page = Client().get("/gallery/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'src="/gallery/thumbnails/{job.pk}"' in html
    assert f'href="/public/results/{job.pk}"' in html
    assert '<meta http-equiv="refresh"' in html  # inside <noscript>
    assert "/static/stats/gallery.js" in html


def test_each_slot_shows_at_most_six_results(shared: None) -> None:
    for minute in range(8):
        make_job("slot-001", started_at=timezone.now() - timedelta(minutes=minute + 1))

    data = Client().get("/gallery/data").json()

    assert len(data["slots"][0]["results"]) == 6


def test_thumbnail_of_a_shown_result_is_a_small_webp(shared: None) -> None:
    job = result_job("slot-001", minutes_ago=1)

    response = Client().get(f"/gallery/thumbnails/{job.pk}")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=600"
    with Image.open(io.BytesIO(response.content)) as image:
        assert max(image.size) <= 256


def test_thumbnail_of_a_result_not_in_the_gallery_is_404(shared: None) -> None:
    job = result_job("slot-001", minutes_ago=1, source=JobSource.TEST_RUN)
    assert Client().get(f"/gallery/thumbnails/{job.pk}").status_code == 404


def test_thumbnail_is_403_when_not_shared() -> None:
    job = result_job("slot-001", minutes_ago=1)
    assert Client().get(f"/gallery/thumbnails/{job.pk}").status_code == 403


def test_stopping_closes_the_gallery_at_once(shared: None, staff_user: object) -> None:
    client = Client()
    assert client.get("/gallery/data").status_code == 200

    gallery_stop(user=staff_user)

    assert client.get("/gallery/data").status_code == 403
    assert client.get("/gallery/").status_code == 403


def test_gallery_closes_when_its_time_is_up(shared: None) -> None:
    client = Client()
    assert client.get("/gallery/data").status_code == 200  # now cached

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert client.get("/gallery/data").status_code == 403


def test_a_crowd_is_answered_from_the_cache(
    shared: None, django_assert_num_queries: object
) -> None:
    result_job("slot-001", minutes_ago=1)
    Client().get("/gallery/data")

    with django_assert_num_queries(0):
        assert Client().get("/gallery/data").status_code == 200
        assert Client().get("/gallery/").status_code == 200


@override_settings(GALLERY_REQUESTS_PER_MINUTE=5)
def test_too_many_requests_from_one_client_are_429_until_the_minute_ends(shared: None) -> None:
    start = timezone.now().replace(second=10, microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        phone = Client(REMOTE_ADDR="192.168.1.50")
        for _ in range(5):
            assert phone.get("/gallery/data").status_code == 200

        refused = phone.get("/gallery/data")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "50"
        assert refused.json()["failure_reason"] == "rate_limited"
        assert phone.get("/gallery/").status_code == 429
        assert Client(REMOTE_ADDR="192.168.1.51").get("/gallery/data").status_code == 200

        clock.shift(timedelta(seconds=50))
        assert phone.get("/gallery/data").status_code == 200


def test_staff_share_and_stop_from_the_stats_page(staff_client: Client) -> None:
    response = staff_client.post("/admin/stats/gallery", {"action": "share", "minutes": "60"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/stats/"
    shared_until = GallerySharing.objects.get().shared_until
    assert shared_until - timezone.now() == pytest.approx(
        timedelta(minutes=60), abs=timedelta(seconds=5)
    )
    assert Client().get("/gallery/data").status_code == 200

    staff_client.post("/admin/stats/gallery", {"action": "stop"})

    assert GallerySharing.objects.get().shared_until is None
    assert Client().get("/gallery/data").status_code == 403


@pytest.mark.parametrize("minutes", ["0", "1441", "soon", ""])
def test_sharing_needs_a_sensible_number_of_minutes(staff_client: Client, minutes: str) -> None:
    staff_client.post("/admin/stats/gallery", {"action": "share", "minutes": minutes})
    assert not GallerySharing.objects.filter(shared_until__isnull=False).exists()


def test_only_staff_can_share(django_user_model: object) -> None:
    client = Client()
    response = client.post("/admin/stats/gallery", {"action": "share", "minutes": "60"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not GallerySharing.objects.exists()
