"""The live feed: ws/stats/ through the real ASGI application.

The announcement is made the way the ingest pipeline makes it (ingest.events.job_report,
from the event loop, for a finished job row) in this test's process,
so the socket and the announcement share the channel layer. That the live server announces
its own jobs to a page is shown end to end by the browser test (test_stats_browser.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from ingest.events import job_report
from ingest.models import Job, JobStatus
from photochanger.asgi import application
from tests.stats.conftest import make_job

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def staff_cookie(slots: None, staff_client: Client) -> str:
    return (
        f"{settings.SESSION_COOKIE_NAME}={staff_client.cookies[settings.SESSION_COOKIE_NAME].value}"
    )


@pytest.fixture
def finished_job(slots: None) -> Job:
    return make_job("slot-002", started_at=timezone.now() - timedelta(seconds=2), duration_ms=850)


def socket(
    *,
    cookie: str | None = None,
    origin: str | None = "http://192.168.1.20:8000",
    host: str = "192.168.1.20:8000",
) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/stats/", headers=headers)


async def test_staff_socket_receives_the_finished_job(staff_cookie: str, finished_job: Job) -> None:
    communicator = socket(cookie=staff_cookie)
    connected, _ = await communicator.connect()
    assert connected

    await job_report(finished_job)
    message = await communicator.receive_json_from(timeout=5)

    assert message["type"] == "job.finished"
    job = message["job"]
    assert job["id"] == str(finished_job.pk)
    assert (job["slot_id"], job["status"], job["duration_ms"]) == ("slot-002", "done", 850)
    assert job["thumbnail_url"] == f"/api/jobs/{finished_job.pk}/thumbnail"
    await communicator.disconnect()


async def test_failed_jobs_are_announced_without_a_thumbnail(staff_cookie: str) -> None:
    failed = await sync_to_async(make_job)(
        "slot-001",
        started_at=timezone.now(),
        status=JobStatus.FAILED,
        failure_reason="rate_limited",
        http_status=429,
        duration_ms=4,
    )
    communicator = socket(cookie=staff_cookie)
    assert (await communicator.connect())[0]

    await job_report(failed)
    job = (await communicator.receive_json_from(timeout=5))["job"]

    assert (job["failure_reason"], job["http_status"], job["thumbnail_url"]) == (
        "rate_limited",
        429,
        None,
    )
    await communicator.disconnect()


async def test_anonymous_socket_is_refused(slots: None) -> None:
    connected, _ = await socket().connect()
    assert not connected


async def test_non_staff_socket_is_refused(slots: None, django_user_model: object) -> None:
    user = await sync_to_async(django_user_model.objects.create)(username="guest")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    connected, _ = await socket(cookie=cookie).connect()

    assert not connected


async def test_staff_socket_from_another_site_is_refused(staff_cookie: str) -> None:
    connected, _ = await socket(cookie=staff_cookie, origin="https://evil.example").connect()
    assert not connected


async def test_same_site_on_any_lan_address_is_accepted(staff_cookie: str) -> None:
    communicator = socket(cookie=staff_cookie, origin="http://10.0.0.7", host="10.0.0.7")
    assert (await communicator.connect())[0]
    await communicator.disconnect()


async def test_socket_without_origin_still_needs_staff(staff_cookie: str) -> None:
    assert not (await socket(origin=None).connect())[0]
    communicator = socket(cookie=staff_cookie, origin=None)
    assert (await communicator.connect())[0]
    await communicator.disconnect()
