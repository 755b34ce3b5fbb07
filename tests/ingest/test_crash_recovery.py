"""A server killed (SIGKILL) with photos in flight: what the next start and cleanup_media repair.

The photos wait on a slow fake Gemini when the server dies, so their jobs stay pending and their
uploads stay in the upload folder. A job left pending is closed as failed/internal_error once its
deadline plus a margin has passed: by the next server's start-up or by ``cleanup_media``, which
also removes the uploads the dead process left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from ingest.jobs import STALE_MARGIN
from ingest.models import Job, JobStatus
from slots.models import GlobalSettings, Slot
from tests.fakes.gemini import FakeGemini, delay
from tests.images import jpeg_bytes
from tests.live import (
    REPO,
    ServerProcess,
    consistency_problems,
    database_url,
    stored_files,
    wait_until_consistent,
)
from tests.live import LiveBooth as Booth

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-006"
IN_FLIGHT = 3


@pytest.fixture
def start_server(
    configured: None, media_root: Path, tmp_path: Path
) -> Iterator[Callable[[str], ServerProcess]]:
    """Starts servers of this test's own (not the session's), stopped after the test."""
    servers: list[ServerProcess] = []

    def start(name: str) -> ServerProcess:
        data_dir = tmp_path / name
        data_dir.mkdir()
        server = ServerProcess.start(media_root=media_root, data_dir=data_dir, extra_env={})
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.stop()


@pytest.fixture
def slow_gemini_slot(configured: None, fake_gemini: FakeGemini) -> str:
    """slot-006 on a fake Gemini that holds each photo for 30 s."""
    GlobalSettings.objects.update(gemini_api_key="test-gemini-key")
    Slot.objects.filter(pk=SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "make it a painting"},
    )
    fake_gemini.script(*(delay(30) for _ in range(IN_FLIGHT)))
    return SLOT


def post_until_the_server_dies(base_url: str, photo: bytes) -> int | str:
    booth = Booth(base_url)
    try:
        return booth.post_photo(SLOT, photo).status_code
    except httpx.TransportError as error:
        return type(error).__name__
    finally:
        booth.close()


def wait_for_requests(fake: FakeGemini, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, f"the fake got {len(fake.requests)} requests"
        time.sleep(0.02)


def kill_with_photos_in_flight(
    server: ServerProcess, fake: FakeGemini, media_root: Path
) -> list[str]:
    """Send IN_FLIGHT photos, SIGKILL the server while the fake holds them; return the
    names of the uploads it left in the upload folder."""
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        booths = [  # one guest each: different photos
            pool.submit(post_until_the_server_dies, server.base_url, jpeg_bytes((1600, 1200 + n)))
            for n in range(IN_FLIGHT)
        ]
        wait_for_requests(fake, IN_FLIGHT)
        uploads = sorted(name for name in stored_files(media_root) if name.startswith("tmp/"))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        answers = [future.result() for future in booths]
    assert all(isinstance(answer, str) for answer in answers), answers  # no HTTP answer
    return uploads


def deadlines_pass() -> None:
    """What waiting T_sync_response plus the stale margin would do, without the wait."""
    Job.objects.filter(status=JobStatus.PENDING).update(
        deadline_at=timezone.now() - STALE_MARGIN - timedelta(seconds=1)
    )


def cleanup_media(media_root: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(data_dir),
        "MEDIA_ROOT": str(media_root),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "cleanup_media", "--grace-minutes", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_killed_jobs_closed() -> None:
    jobs = list(Job.objects.all())
    assert len(jobs) == IN_FLIGHT
    for job in jobs:
        assert job.status == JobStatus.FAILED
        assert job.failure_reason == "internal_error"
        assert job.finished_at is not None


def assert_answers_ingest(server: ServerProcess, media_root: Path) -> None:
    photo = jpeg_bytes()
    booth = Booth(server.base_url)
    try:
        response = booth.post_photo("slot-001", photo)
    finally:
        booth.close()
    assert response.status_code == 200
    assert response.content == photo
    assert Job.objects.get(pk=response.headers["x-job-id"]).status == JobStatus.DONE
    wait_until_consistent(media_root)


def test_next_start_closes_the_killed_servers_jobs_and_cleanup_removes_its_uploads(
    start_server: Callable[[str], ServerProcess],
    slow_gemini_slot: str,
    fake_gemini: FakeGemini,
    media_root: Path,
    tmp_path: Path,
) -> None:
    uploads = kill_with_photos_in_flight(start_server("killed"), fake_gemini, media_root)
    assert len(uploads) == IN_FLIGHT  # each photo in flight had its upload on disk
    assert Job.objects.filter(status=JobStatus.PENDING).count() == IN_FLIGHT
    deadlines_pass()

    restarted = start_server("restarted")
    assert f"Closed {IN_FLIGHT} job(s) left pending" in restarted.log_path.read_text()
    cleanup = cleanup_media(media_root, tmp_path / "restarted")

    assert cleanup.returncode == 0, cleanup.stderr
    assert f"{IN_FLIGHT} orphan files" in cleanup.stdout
    assert "closed 0 stale jobs" in cleanup.stdout
    assert_killed_jobs_closed()
    assert not set(uploads) & stored_files(media_root)
    assert consistency_problems(media_root) == []
    assert_answers_ingest(restarted, media_root)


def test_cleanup_closes_jobs_that_went_stale_after_the_restart(
    start_server: Callable[[str], ServerProcess],
    slow_gemini_slot: str,
    fake_gemini: FakeGemini,
    media_root: Path,
    tmp_path: Path,
) -> None:
    uploads = kill_with_photos_in_flight(start_server("killed"), fake_gemini, media_root)
    # Restarted at once: the jobs might still be running somewhere, so start-up leaves them.
    restarted = start_server("restarted")
    assert "left pending" not in restarted.log_path.read_text()
    assert Job.objects.filter(status=JobStatus.PENDING).count() == IN_FLIGHT
    deadlines_pass()

    cleanup = cleanup_media(media_root, tmp_path / "restarted")

    assert cleanup.returncode == 0, cleanup.stderr
    assert f"closed {IN_FLIGHT} stale jobs" in cleanup.stdout
    assert f"{IN_FLIGHT} orphan files" in cleanup.stdout
    assert_killed_jobs_closed()
    assert not set(uploads) & stored_files(media_root)
    assert consistency_problems(media_root) == []
    assert_answers_ingest(restarted, media_root)
