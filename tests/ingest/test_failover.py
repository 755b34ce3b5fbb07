"""The failover chain: a Gemini slot that moves on to an OpenAI slot, then to a local one,
inside the booth's one deadline, against the fake providers over loopback."""

from __future__ import annotations

import time

import pytest

from ingest.models import Job, JobStatus
from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.fakes import gemini, openai
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.images import jpeg_bytes
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

GEMINI_SLOT, OPENAI_SLOT, LOCAL_SLOT = "slot-006", "slot-007", "slot-008"


@pytest.fixture
def chain(booth: Booth, fake_gemini: FakeGemini, fake_openai: FakeOpenAI) -> None:
    """slot-006 on Gemini (one attempt), failing over to slot-007 on OpenAI, then to slot-008,
    local grayscale; the two failover slots switched off, as an event keeps them."""
    GlobalSettings.objects.update(
        gemini_api_key="AIzaSy-failover-test", openai_api_key="sk-failover-test"
    )
    Slot.objects.filter(pk=OPENAI_SLOT).update(
        provider="openai", operation="edit", settings={"prompt": "comic", "max_attempts": 1}
    )
    Slot.objects.filter(pk=LOCAL_SLOT).update(
        provider="local", operation="grayscale", settings={}, is_active=False
    )
    Slot.objects.filter(pk=GEMINI_SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "watercolour", "max_attempts": 1},
        failover_first_id=OPENAI_SLOT,
        failover_second_id=LOCAL_SLOT,
    )


def outcomes(job: Job) -> list[tuple[str, str, str]]:
    return [(each["provider"], each["outcome"], each["error"]) for each in job.attempts]


def test_a_503_from_the_first_vendor_is_answered_by_the_second(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    fake_gemini.script(gemini.error(503, "UNAVAILABLE", "The model is overloaded."))
    fake_openai.script(openai.answer_image("PNG", size=(40, 30)))

    response = booth.post_photo(GEMINI_SLOT, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    job = Job.objects.get(pk=response.headers["x-job-id"])
    assert (job.status, job.served_step, job.provider) == (JobStatus.DONE, 1, "gemini")
    assert outcomes(job) == [("gemini", "failed", "unavailable"), ("openai", "ok", "")]
    assert job.attempts[1]["slot"] == OPENAI_SLOT
    assert booth.http.get(response.headers["x-result-url"]).content == response.content
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]
    detail = booth.http.get(
        f"/api/jobs/{job.pk}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert detail["served_step"] == 1
    assert [attempt["provider"] for attempt in detail["attempts"]] == ["gemini", "openai"]
    assert "503" in detail["attempts"][0]["details"]


def test_with_both_vendors_down_the_local_step_answers(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    fake_gemini.script(gemini.error(503, "UNAVAILABLE", "The model is overloaded."))
    fake_openai.script(openai.error(500, "server_error", "The server had an error."))

    response = booth.post_photo(GEMINI_SLOT, photo)

    assert response.status_code == 200, response.text
    job = Job.objects.get()
    assert job.served_step == 2
    assert outcomes(job) == [
        ("gemini", "failed", "unavailable"),
        ("openai", "failed", "unavailable"),
        ("local", "ok", ""),
    ]


def test_a_hanging_first_vendor_leaves_the_second_its_time(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    GlobalSettings.objects.update(sync_response_seconds=6)
    Slot.objects.filter(pk=OPENAI_SLOT).update(
        settings={"prompt": "comic", "max_attempts": 1, "min_seconds": 2}
    )
    fake_gemini.script(gemini.hang())
    fake_openai.script(openai.delay(0.5))

    started = time.monotonic()
    response = booth.post_photo(GEMINI_SLOT, photo)
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert elapsed < 6
    job = Job.objects.get()
    assert outcomes(job) == [("gemini", "timeout", "timeout"), ("openai", "ok", "")]
    assert fake_gemini.disconnects == 1  # the hanging call was dropped, not left running


def test_a_step_that_needs_more_time_than_is_left_is_skipped(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    # OpenAI needs 20 s by default, more than the whole deadline: Gemini leaves the local
    # step its 2 s instead, and OpenAI is never called.
    GlobalSettings.objects.update(sync_response_seconds=6)
    fake_gemini.script(gemini.hang())

    response = booth.post_photo(GEMINI_SLOT, photo)

    assert response.status_code == 200, response.text
    job = Job.objects.get()
    assert outcomes(job) == [
        ("gemini", "timeout", "timeout"),
        ("openai", "skipped", "no_time"),
        ("local", "ok", ""),
    ]
    assert fake_openai.requests == []


def test_a_content_refusal_ends_the_chain_unless_the_slot_says_to_move_on(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    fake_gemini.script(gemini.block("SAFETY"), gemini.block("SAFETY"))
    fake_openai.script(openai.answer_image())

    refused = booth.post_photo(GEMINI_SLOT, photo)
    Slot.objects.filter(pk=GEMINI_SLOT).update(failover_on_refusal=True)
    moved_on = booth.post_photo(GEMINI_SLOT, photo)

    assert refused.status_code == 502
    assert "blocked" in refused.json()["details"]
    assert moved_on.status_code == 200, moved_on.text
    first, second = Job.objects.order_by("started_at")
    assert outcomes(first) == [("gemini", "refused", "refused")]
    assert outcomes(second) == [("gemini", "refused", "refused"), ("openai", "ok", "")]


def test_when_every_step_fails_the_guest_gets_each_reason(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    Slot.objects.filter(pk=GEMINI_SLOT).update(failover_second=None)
    fake_gemini.script(gemini.error(503, "UNAVAILABLE", "The model is overloaded."))
    fake_openai.script(openai.error(500, "server_error", "The server had an error."))

    response = booth.post_photo(GEMINI_SLOT, photo)

    assert response.status_code == 502
    details = response.json()["details"]
    assert details.startswith(f"{GEMINI_SLOT} (gemini): ")
    assert f"; {OPENAI_SLOT} (openai): " in details
    job = Job.objects.get()
    assert (job.status, job.served_step) == (JobStatus.FAILED, None)
    assert len(job.attempts) == 2


def test_the_stats_show_how_often_each_step_served_the_guests(
    booth: Booth, chain: None, photo: bytes, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    fake_gemini.script(
        gemini.answer_image(),
        gemini.error(503, "UNAVAILABLE", "The model is overloaded."),
        gemini.error(503, "UNAVAILABLE", "The model is overloaded."),
    )
    fake_openai.script(
        openai.answer_image(), openai.error(500, "server_error", "The server had an error.")
    )
    for height in (480, 481, 482):  # three guests, three photos
        assert booth.post_photo(GEMINI_SLOT, jpeg_bytes((640, height))).status_code == 200
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]

    reply = booth.http.get(
        "/api/stats/slots?window_minutes=60", headers={"Authorization": f"Bearer {token}"}
    )

    slots = {slot["slot_id"]: slot for slot in reply.json()["slots"]}
    assert slots[GEMINI_SLOT]["served_by_step"] == [1, 1, 1]
    assert slots[LOCAL_SLOT]["served_by_step"] == [0, 0, 0]  # its own jobs: none
