"""Re-sends: the same photo sent to the same slot again within the window gets the first job's
result, not a second provider call. (Two server processes: tests/ingest/test_two_workers.py.)"""

from __future__ import annotations

import pytest

from ingest.models import Job, JobStatus
from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini, answer_image, error
from tests.images import jpeg_bytes
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-006"


@pytest.fixture
def gemini_slot(booth: Booth, fake_gemini: FakeGemini) -> str:
    GlobalSettings.objects.update(gemini_api_key="AIzaSy-repeat-test")
    Slot.objects.filter(pk=SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "watercolour", "max_attempts": 1},
    )
    return SLOT


def test_a_re_sent_photo_gets_the_first_result_without_a_second_call(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    fake_gemini.script(answer_image("PNG", size=(30, 20)), answer_image("PNG", size=(50, 40)))

    first = booth.post_photo(SLOT, photo)
    again = booth.post_photo(SLOT, photo)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert again.headers["x-job-id"] == first.headers["x-job-id"]
    assert again.headers["x-result-url"] == first.headers["x-result-url"]
    assert again.headers["x-photochanger-repeat"] == "true"
    assert len(fake_gemini.requests) == 1
    repeat = Job.objects.exclude(pk=first.headers["x-job-id"]).get()
    assert (repeat.status, str(repeat.repeat_of_id)) == (JobStatus.DONE, first.headers["x-job-id"])
    assert repeat.upload_sha256 == Job.objects.get(pk=first.headers["x-job-id"]).upload_sha256
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]
    detail = booth.http.get(f"/api/jobs/{repeat.pk}", headers={"Authorization": f"Bearer {token}"})
    assert detail.json()["repeat_of"] == first.headers["x-job-id"]


def with_comment(photo: bytes, text: bytes) -> bytes:
    """``photo`` (a JPEG) with a comment segment: same length for texts of one length."""
    return photo[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + photo[2:]


def test_a_photo_of_the_same_size_but_other_bytes_is_not_a_repeat(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    fake_gemini.script(answer_image(), answer_image())
    first_photo, second_photo = with_comment(photo, b"guest-1"), with_comment(photo, b"guest-2")
    assert len(first_photo) == len(second_photo)

    first = booth.post_photo(SLOT, first_photo)
    second = booth.post_photo(SLOT, second_photo)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["x-job-id"] != first.headers["x-job-id"]
    assert "x-photochanger-repeat" not in second.headers
    assert len(fake_gemini.requests) == 2


@pytest.mark.parametrize("change", ["another photo", "another slot", "window off"])
def test_only_the_same_photo_on_the_same_slot_within_the_window_is_a_repeat(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes, change: str
) -> None:
    fake_gemini.script(answer_image(), answer_image())
    Slot.objects.filter(pk="slot-007").update(
        is_active=True, provider="gemini", operation="generate", settings={"prompt": "comic"}
    )
    second_photo, second_slot = photo, SLOT
    if change == "another photo":
        second_photo = jpeg_bytes((640, 481))
    elif change == "another slot":
        second_slot = "slot-007"
    else:
        GlobalSettings.objects.update(repeat_window_seconds=0)

    first = booth.post_photo(SLOT, photo)
    second = booth.post_photo(second_slot, second_photo)

    assert second.status_code == 200, second.text
    assert second.headers["x-job-id"] != first.headers["x-job-id"]
    assert "x-photochanger-repeat" not in second.headers
    assert len(fake_gemini.requests) == 2


def test_a_re_send_after_a_failure_is_tried_again(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    fake_gemini.script(error(503, "UNAVAILABLE", "The model is overloaded."), answer_image())

    failed = booth.post_photo(SLOT, photo)
    again = booth.post_photo(SLOT, photo)

    assert failed.status_code == 502
    assert again.status_code == 200, again.text
    assert "x-photochanger-repeat" not in again.headers
    assert len(fake_gemini.requests) == 2


def test_a_staff_test_run_is_never_a_repeat(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    fake_gemini.script(answer_image(), answer_image())
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]

    assert booth.post_photo(SLOT, photo).status_code == 200
    test_run = booth.http.post(
        f"/api/slots/{SLOT}/test-run",
        files={"fileToUpload": ("test.jpg", photo, "image/jpeg")},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert test_run.status_code == 200
    assert "x-photochanger-repeat" not in test_run.headers
    assert len(fake_gemini.requests) == 2
