"""Jobs of a server process that died are closed by the processes still running (ingest.workers).

Two real servers share the test database, each showing it is alive every second
(WORKER_HEARTBEAT_SECONDS=1, so silent for 3 s means stopped). A photo waits on a fake Gemini
that never answers. Killed (SIGKILL) with it in flight, server A leaves its job pending; server B
closes it as failed/internal_error once its deadline has passed, without a restart or cron. A
job of a server that is alive is left to it, even past its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from ingest.jobs import job_start
from ingest.models import Job, JobStatus, Worker
from slots.models import GlobalSettings, Slot
from tests.fakes.gemini import FakeGemini, hang
from tests.images import jpeg_bytes
from tests.live import LiveBooth as Booth
from tests.live import ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-006"
HEARTBEAT_SECONDS = 1
# Far more than a closing takes (about 4 s here): a slow machine must not fail the test.
WITHIN = timedelta(seconds=60)


@pytest.fixture
def start_server(
    configured: None, media_root: Path, tmp_path: Path
) -> Iterator[Callable[[str], ServerProcess]]:
    """Starts servers of this test's own with a 1 s heartbeat; after the test, those still
    running are stopped and must have logged no traceback."""
    servers: list[ServerProcess] = []

    def start(name: str) -> ServerProcess:
        data_dir = tmp_path / name
        data_dir.mkdir()
        server = ServerProcess.start(
            media_root=media_root,
            data_dir=data_dir,
            extra_env={"WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)},
        )
        servers.append(server)
        return server

    yield start
    running = [server for server in servers if server.process.poll() is None]
    for server in running:
        server.stop()
    for server in running:
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log


@pytest.fixture
def hanging_gemini_slot(configured: None, fake_gemini: FakeGemini) -> Callable[[int], str]:
    """slot-006 on a fake Gemini that takes the photo and never answers, with T_sync_response
    set to the seconds given."""

    def configure(sync_response_seconds: int) -> str:
        GlobalSettings.objects.update(
            gemini_api_key="test-gemini-key", sync_response_seconds=sync_response_seconds
        )
        Slot.objects.filter(pk=SLOT).update(
            is_active=True,
            provider="gemini",
            operation="generate",
            settings={"prompt": "make it a painting"},
        )
        fake_gemini.script(hang())
        return SLOT

    return configure


def post_photo(base_url: str, slot_id: str) -> int | str:
    """The answer's status, or the name of the transport error when the server died."""
    booth = Booth(base_url)
    try:
        return booth.post_photo(slot_id, jpeg_bytes()).status_code
    except httpx.TransportError as error:
        return type(error).__name__
    finally:
        booth.close()


def photo_in_flight(
    pool: ThreadPoolExecutor, server: ServerProcess, slot_id: str, fake: FakeGemini
) -> tuple[Future[int | str], Job]:
    """Send a photo to ``server``; once the fake holds it, the answer to come and its job."""
    answer = pool.submit(post_photo, server.base_url, slot_id)
    wait_for(lambda: len(fake.requests) == 1, timeout=30, what="the photo reaches the fake")
    return answer, Job.objects.get()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def worker_of(server: ServerProcess) -> Worker:
    return Worker.objects.get(pid=server.process.pid)


def seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - timezone.now()).total_seconds())


def test_a_killed_servers_job_is_closed_by_the_other_server_after_its_deadline(
    start_server: Callable[[str], ServerProcess],
    hanging_gemini_slot: Callable[[int], str],
    fake_gemini: FakeGemini,
    server_process: ServerProcess,
) -> None:
    slot_id = hanging_gemini_slot(5)
    server_a, server_b = start_server("a"), start_server("b")
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer, job = photo_in_flight(pool, server_a, slot_id, fake_gemini)
        assert job.worker == worker_of(server_a).id

        server_a.process.kill()
        server_a.process.wait(timeout=10)
        assert isinstance(answer.result(), str)  # the booth got no answer

    wait_for(
        lambda: Job.objects.get(pk=job.pk).is_final,
        timeout=seconds_until(job.deadline_at + WITHIN),
        what="the killed server's job is closed",
    )
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "internal_error"
    assert job.failure_details == "the server stopped while processing"
    assert job.finished_at >= job.deadline_at
    # Announced like any job that ends: its log line (and the live feed's event), by the live
    # server that closed it: B, or the suite's own server, which runs on the same database.
    line = f"job_finished job={job.pk} slot={slot_id}"
    servers, logged = [server_b, server_process], ["", ""]

    def reported() -> bool:
        for index, server in enumerate(servers):
            logged[index] += server.new_log()  # whole lines, however the reads fall
        return any(line in log for log in logged)

    wait_for(reported, timeout=30, what="a live server reports the job")
    assert Job.objects.filter(status=JobStatus.PENDING).count() == 0


def test_a_live_servers_job_past_its_deadline_is_left_to_it(
    start_server: Callable[[str], ServerProcess],
    hanging_gemini_slot: Callable[[int], str],
    fake_gemini: FakeGemini,
) -> None:
    # Long enough for server B to look at the job while server A still runs it.
    slot_id = hanging_gemini_slot(8)
    server_a, server_b = start_server("a"), start_server("b")
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer, job = photo_in_flight(pool, server_a, slot_id, fake_gemini)
        # Beside it, the job of a server that is gone; both past their deadline on record.
        orphan = job_start(
            slot=Slot.objects.get(pk="slot-001"),
            deadline_at=timezone.now() + timedelta(seconds=48),
            worker="0123456789abcdef0123456789abcdef",
        )
        backdated_at = timezone.now()
        Job.objects.filter(pk__in=[job.pk, orphan.pk]).update(
            deadline_at=backdated_at - timedelta(seconds=1)
        )

        # A beat of B that began after the backdating, then the next one: the first one's
        # look at pending jobs is over.
        silence = timedelta(seconds=3 * HEARTBEAT_SECONDS)
        wait_for(
            lambda: worker_of(server_b).alive_until > backdated_at + silence,
            timeout=30,
            what="server B beats after the backdating",
        )
        looked = worker_of(server_b).alive_until
        wait_for(
            lambda: worker_of(server_b).alive_until > looked,
            timeout=30,
            what="server B beats again",
        )
        orphan.refresh_from_db()
        job.refresh_from_db()
        assert (orphan.status, orphan.failure_reason) == (JobStatus.FAILED, "internal_error")
        assert job.status == JobStatus.PENDING

        assert answer.result() == 504  # server A's own deadline
    job.refresh_from_db()
    assert (job.status, job.failure_reason) == (JobStatus.TIMEOUT, "provider_timeout")
