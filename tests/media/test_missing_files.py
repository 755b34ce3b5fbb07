"""A result whose row exists but whose file does not (a file deleted by hand, a restore without
its media, another server's own disk): the guest gets an answer at once, never an open
connection, and the guest page says the photo is not available."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from media.models import MediaKind, StoredMedia
from tests.booth import Booth
from tests.images import jpeg_bytes
from tests.ingest.test_results_archive import archive, token_of
from tests.live import LiveBooth
from tests.roles import EVENT_ADMIN

pytestmark = pytest.mark.django_db(transaction=True)


def result_file(job_id: str, media_root: Path) -> Path:
    media = StoredMedia.objects.get(job_id=job_id, kind=MediaKind.RESULT)
    return media_root / media.storage_name


def forget_result(job_id: str) -> None:
    # The row goes too, so the suite's own check (every row has its file) holds afterwards.
    StoredMedia.objects.filter(job_id=job_id).delete()


def test_a_result_without_its_file_is_404_and_its_page_says_not_available(
    booth: Booth, photo: bytes, media_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    result_file(job_id, media_root).unlink()

    download = booth.http.get(f"/public/results/{job_id}")
    page = booth.http.get(f"/r/{job_id}", headers={"Accept-Language": "en"})

    assert download.status_code == 404
    assert download.json()["failure_reason"] == "result_not_found"
    assert page.status_code == 404
    assert "This photo is not available" in page.text
    assert "ask the crew" in page.text
    assert f"/public/results/{job_id}" not in page.text  # no broken image on the page
    assert any(job_id in record.getMessage() for record in caplog.records)
    forget_result(job_id)


def test_a_result_the_storage_cannot_read_is_500_with_the_job_logged(
    booth: Booth, photo: bytes, media_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    path = result_file(job_id, media_root)
    path.unlink()
    path.mkdir()  # the name is there, but it is not a file anyone can read

    with caplog.at_level(logging.ERROR, logger="media.responses"):
        download = booth.http.get(f"/public/results/{job_id}")

    assert download.status_code == 500
    body = download.json()
    assert body["failure_reason"] == "internal_error"
    assert "Traceback" not in download.text
    logged = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(job_id in message for message in logged), logged
    path.rmdir()
    forget_result(job_id)


def test_the_live_server_answers_a_missing_file_within_a_second(
    live_booth: LiveBooth, media_root: Path
) -> None:
    job_id = live_booth.post_photo("slot-001", jpeg_bytes((640, 470))).headers["x-job-id"]
    result_file(job_id, media_root).unlink()

    started = time.monotonic()
    with httpx.Client(base_url=live_booth.base_url, timeout=1.0) as guest:
        download = guest.get(f"/public/results/{job_id}")
        page = guest.get(f"/r/{job_id}")
    elapsed = time.monotonic() - started

    assert download.status_code == 404, download.text
    assert download.json()["failure_reason"] == "result_not_found"
    assert page.status_code == 404
    assert elapsed < 2.0
    forget_result(job_id)


def test_the_event_archive_goes_on_without_a_missing_photo(booth: Booth, media_root: Path) -> None:
    kept = booth.post_photo("slot-001", jpeg_bytes((40, 30))).headers["x-job-id"]
    lost = booth.post_photo("slot-002", jpeg_bytes((41, 30))).headers["x-job-id"]
    result_file(lost, media_root).unlink()

    zipped = archive(booth, token_of(EVENT_ADMIN))
    forget_result(lost)

    assert zipped.testzip() is None
    assert [name.split("/")[0] for name in zipped.namelist()] == ["slot-001"]
    assert zipped.namelist()[0].endswith(f"{kept[:8]}.jpg")


def test_a_re_send_whose_first_result_cannot_be_read_is_processed_anew(
    booth: Booth, photo: bytes, media_root: Path
) -> None:
    first = booth.post_photo("slot-001", photo).headers["x-job-id"]
    result_file(first, media_root).unlink()  # as on another server's own disk

    again = booth.post_photo("slot-001", photo)

    assert again.status_code == 200, again.text
    assert again.content == photo
    assert again.headers["x-job-id"] != first
    assert "x-photochanger-repeat" not in again.headers
    forget_result(first)
