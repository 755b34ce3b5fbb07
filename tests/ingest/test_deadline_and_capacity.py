"""The deadline and the capacity limit, with a fake Gemini that hangs or takes its time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest.models import Job, JobStatus
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini, delay, hang
from tests.images import jpeg_bytes
from tests.live import stored_files

pytestmark = pytest.mark.django_db(transaction=True)

# Below the 5 s staff may set: the rule is the same at any length, and the suite waits less.
DEADLINE_SECONDS = 2


@pytest.fixture
def gemini_slots(booth: Booth, fake_gemini: FakeGemini) -> list[str]:
    """slot-006 … slot-008 on the fake Gemini."""
    GlobalSettings.objects.update(
        gemini_api_key="test-gemini-key", sync_response_seconds=DEADLINE_SECONDS
    )
    slot_ids = ["slot-006", "slot-007", "slot-008"]
    Slot.objects.filter(pk__in=slot_ids).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "make it a painting"},
    )
    return slot_ids


def wait_for_requests(fake: FakeGemini, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, f"the fake got {len(fake.requests)} requests"
        time.sleep(0.02)


def test_hanging_provider_gets_504_at_the_deadline_and_is_cancelled(
    booth: Booth, photo: bytes, fake_gemini: FakeGemini, gemini_slots: list[str], media_root
) -> None:
    fake_gemini.script(hang())

    started = time.monotonic()
    response = booth.post_photo("slot-006", photo)
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json()["status"] == "timeout"
    assert response.json()["failure_reason"] == "provider_timeout"
    assert DEADLINE_SECONDS - 1 <= elapsed <= DEADLINE_SECONDS + 1
    job = Job.objects.get()
    assert job.status == JobStatus.TIMEOUT
    assert job.failure_reason == "provider_timeout"
    assert job.http_status == 504
    # The provider's connection was really closed, not left hanging.
    deadline = time.monotonic() + 2
    while fake_gemini.disconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_gemini.disconnects == 1
    assert not any(name.startswith("results/") for name in stored_files(media_root))


def test_hanging_provider_with_on_failure_original_answers_the_photo_at_the_deadline(
    booth: Booth, photo: bytes, fake_gemini: FakeGemini, gemini_slots: list[str]
) -> None:
    Slot.objects.filter(pk="slot-006").update(on_failure="original")
    fake_gemini.script(hang())

    response = booth.post_photo("slot-006", photo)

    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["x-photochanger-fallback"] == "original"
    job = Job.objects.get()
    assert job.status == JobStatus.TIMEOUT
    assert job.fallback_original


def test_request_over_capacity_gets_429_at_once(
    booth: Booth, photo: bytes, fake_gemini: FakeGemini, gemini_slots: list[str]
) -> None:
    GlobalSettings.objects.update(max_concurrent_jobs=2)
    fake_gemini.script(delay(1.5), delay(1.5))

    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [  # two guests' photos
            pool.submit(Booth().post_photo, "slot-006", jpeg_bytes((640, height)))
            for height in (480, 481)
        ]
        wait_for_requests(fake_gemini, 2)

        started = time.monotonic()
        refused = booth.post_photo("slot-007", photo)
        elapsed = time.monotonic() - started

        assert refused.status_code == 429
        assert refused.json()["failure_reason"] == "rate_limited"
        assert int(refused.headers["retry-after"]) > 0
        assert elapsed < 1.0
        assert [future.result().status_code for future in slow] == [200, 200]

    # Capacity comes back once the slow ones are done.
    assert booth.post_photo("slot-007", photo).status_code == 200
    assert Job.objects.filter(status=JobStatus.DONE).count() == 3
    assert Job.objects.filter(failure_reason="rate_limited").count() == 1


def test_per_slot_cap_refuses_that_slot_only(
    booth: Booth, photo: bytes, fake_gemini: FakeGemini, gemini_slots: list[str]
) -> None:
    Slot.objects.filter(pk="slot-006").update(max_concurrent_jobs=1)
    fake_gemini.script(delay(1))

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(Booth().post_photo, "slot-006", photo)
        wait_for_requests(fake_gemini, 1)

        assert booth.post_photo("slot-006", photo).status_code == 429
        assert booth.post_photo("slot-007", photo).status_code == 200
        assert slow.result().status_code == 200
