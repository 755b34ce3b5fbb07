"""Two servers, one event: two `manage.py serve` processes with folders of their own (as two
machines have), sharing PostgreSQL, Redis and the media bucket, behind one address.

What a guest or the crew would notice if a machine kept something to itself: a photo made on
one is downloaded through the other, the capacity cap holds across both, the live feed on one
shows the other's jobs, a provider-media link made by one is served by the other, and
cleanup_media run once cleans for both.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ingest.models import Job, JobStatus
from media.models import StoredMedia
from slots.models import GlobalSettings, Slot
from tests.fakes.gemini import FakeGemini, delay
from tests.fakes.turbotext import FakeTurbotext
from tests.images import jpeg_bytes
from tests.ingest.test_two_workers import (
    SECRET_KEY,
    LiveFeed,
    post_photo,
    staff_session_cookie,
    staff_user,  # noqa: F401 (a fixture these tests use)
    wait_for_requests,
)
from tests.live import ServerProcess, server_pair, stored_files, wait_until_consistent
from tests.s3 import Bucket

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def servers(
    configured: None, bucket: Bucket, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Servers A and B, each with its own media folder, on the test database, Redis db 13 and
    ``bucket``. The SQLite run skips: two machines cannot share a SQLite file."""
    if connection.vendor != "postgresql":
        pytest.skip("two machines share PostgreSQL: the PostgreSQL run covers it")
    with server_pair(
        tmp_path, redis_url=REDIS_URL, extra_env={"SECRET_KEY": SECRET_KEY, **bucket.env}
    ) as pair:
        yield pair


def folders_hold_nothing(tmp_path: Path, timeout: float = 5.0) -> None:
    """Neither machine keeps a file once its requests and uploads are over: everything is in
    the bucket."""
    deadline = time.monotonic() + timeout
    while left := {name: stored_files(tmp_path / name / "media") for name in ("a", "b")}:
        if not any(left.values()):
            return
        assert time.monotonic() < deadline, left
        time.sleep(0.05)


def test_a_photo_made_on_one_server_is_downloaded_through_the_other(
    servers: tuple[ServerProcess, ServerProcess], bucket: Bucket, media_root: Path, tmp_path: Path
) -> None:
    server_a, server_b = servers
    Slot.objects.filter(pk="slot-002").update(is_active=True)  # local grayscale
    answer = post_photo(server_a.base_url, "slot-002", jpeg_bytes((640, 480)))
    job_id = answer.headers["x-job-id"]
    wait_until_consistent(media_root, bucket=bucket)  # A answers before the bucket has it

    download = httpx.get(f"{server_b.base_url}/public/results/{job_id}")
    page = httpx.get(f"{server_b.base_url}/r/{job_id}")

    assert answer.status_code == 200, answer.text
    assert download.status_code == 200
    assert download.content == answer.content
    assert page.status_code == 200
    assert f"/public/results/{job_id}" in page.text
    folders_hold_nothing(tmp_path)


def test_the_capacity_cap_holds_across_both_servers(
    servers: tuple[ServerProcess, ServerProcess],
    bucket: Bucket,
    fake_gemini: FakeGemini,
    media_root: Path,
) -> None:
    GlobalSettings.objects.update(max_concurrent_jobs=2, gemini_api_key="test-gemini-key")
    Slot.objects.filter(pk="slot-006").update(
        is_active=True, provider="gemini", operation="generate", settings={"prompt": "paint"}
    )
    fake_gemini.script(delay(3), delay(3))

    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [
            pool.submit(post_photo, server.base_url, "slot-006", jpeg_bytes((640, height)))
            for server, height in zip(servers, (481, 482), strict=True)
        ]
        wait_for_requests(fake_gemini, 2)
        refused = [post_photo(server.base_url, "slot-001", jpeg_bytes()) for server in servers]
        answers = [future.result() for future in slow]

    assert [response.status_code for response in refused] == [429, 429]
    assert {response.json()["failure_reason"] for response in refused} == {"rate_limited"}
    assert [response.status_code for response in answers] == [200, 200]
    wait_until_consistent(media_root, bucket=bucket)


def test_the_live_feed_on_one_server_shows_a_job_of_the_other(
    servers: tuple[ServerProcess, ServerProcess],
    bucket: Bucket,
    staff_user: object,  # noqa: F811 (the fixture imported above)
    media_root: Path,
) -> None:
    server_a, server_b = servers
    with LiveFeed(server_b.base_url, cookie=staff_session_cookie(server_b.base_url)) as feed:
        answer = post_photo(server_a.base_url, "slot-001", jpeg_bytes((640, 483)))
        message = feed.receive_job(answer.headers["x-job-id"], timeout=10)

    assert message["type"] == "job.finished"
    assert message["job"]["status"] == "done"
    wait_until_consistent(media_root, bucket=bucket)


def test_a_provider_media_link_made_by_one_server_is_served_by_the_other(
    servers: tuple[ServerProcess, ServerProcess],
    bucket: Bucket,
    fake_turbotext: FakeTurbotext,
    media_root: Path,
) -> None:
    server_a, server_b = servers
    # The balancer's one address; here it leads to B, while the job runs on A.
    GlobalSettings.objects.update(
        turbotext_api_key="turbotext-test-key", public_base_url=server_b.base_url
    )
    Slot.objects.filter(pk="slot-009").update(
        is_active=True,
        provider="turbotext",
        operation="generate_image2image",
        settings={"content": "a painting", "poll_seconds": 0.05, "min_queue_seconds": 1},
    )
    photo = jpeg_bytes((640, 484))

    answer = post_photo(server_a.base_url, "slot-009", photo)

    assert answer.status_code == 200, answer.text
    photo_url = fake_turbotext.requests_with("create_queue")[0].form["url"]
    assert photo_url.startswith(f"{server_b.base_url}/public/provider-media/")
    fetched = httpx.get(photo_url)  # within the job's deadline, as Turbotext would
    assert fetched.status_code == 200
    assert fetched.content == photo
    wait_until_consistent(media_root, bucket=bucket)


def test_cleanup_media_run_once_cleans_for_both_servers(
    servers: tuple[ServerProcess, ServerProcess], bucket: Bucket, media_root: Path, tmp_path: Path
) -> None:
    job_ids = [
        post_photo(server.base_url, "slot-001", jpeg_bytes((640, 485 + n))).headers["x-job-id"]
        for n, server in enumerate(servers)
    ]
    wait_until_consistent(media_root, bucket=bucket)
    assert len(bucket.keys()) == 2

    # Run here, on neither server: the crew's cron on one machine.
    later = timezone.now() + timedelta(hours=73)
    with time_machine.travel(later), bucket.as_media_storage():
        call_command("cleanup_media", stdout=io.StringIO())

    assert bucket.keys() == set()
    assert not StoredMedia.objects.exists()
    for server in servers:
        for job_id in job_ids:
            assert httpx.get(f"{server.base_url}/public/results/{job_id}").status_code in {404, 410}
    assert Job.objects.filter(status=JobStatus.DONE).count() == 2
    folders_hold_nothing(tmp_path)
