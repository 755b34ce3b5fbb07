"""Paid provider calls: counted per day, slot and provider; capped per slot and for the event
(the slot then answers with its chain's first free step or its on_failure); priced on the stats
page, its API and /metrics."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from ingest.models import Job
from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, OnFailure, Slot
from stats.metrics import metrics_cache_clear
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini, answer_image
from tests.images import jpeg_bytes
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

SLOT, LOCAL_SLOT = "slot-006", "slot-008"


@pytest.fixture
def gemini_slot(booth: Booth, fake_gemini: FakeGemini) -> str:
    GlobalSettings.objects.update(gemini_api_key="AIzaSy-paid-test", gemini_call_price="0.039")
    Slot.objects.filter(pk=LOCAL_SLOT).update(provider="local", operation="grayscale")
    Slot.objects.filter(pk=SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "watercolour", "max_attempts": 1},
    )
    fake_gemini.script(*(answer_image() for _ in range(3)))
    return SLOT


def guests(booth: Booth, count: int) -> list:
    return [booth.post_photo(SLOT, jpeg_bytes((640, 480 + n))) for n in range(count)]


def steps_of(answer: object) -> list[tuple[str, str, str]]:
    job = Job.objects.get(pk=answer.headers["x-job-id"])
    return [(each["provider"], each["outcome"], each["error"]) for each in job.attempts]


def test_at_the_slots_cap_its_free_failover_step_answers(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini
) -> None:
    Slot.objects.filter(pk=SLOT).update(daily_paid_calls_cap=2, failover_first_id=LOCAL_SLOT)

    answers = guests(booth, 3)

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len(fake_gemini.requests) == 2
    assert steps_of(answers[2]) == [("gemini", "skipped", "cap"), ("local", "ok", "")]


@pytest.mark.parametrize(("on_failure", "status"), [("error", 502), ("original", 200)])
def test_at_the_events_cap_a_slot_without_a_free_step_gives_its_on_failure_answer(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, on_failure: str, status: int
) -> None:
    GlobalSettings.objects.update(daily_paid_calls_cap=1)
    Slot.objects.filter(pk=SLOT).update(on_failure=on_failure)

    first, capped = guests(booth, 2)

    assert (first.status_code, capped.status_code) == (200, status)
    assert len(fake_gemini.requests) == 1
    if on_failure == OnFailure.ERROR:
        assert "the event's cap of 1 paid calls today is reached" in capped.json()["details"]
    else:
        assert capped.headers["x-photochanger-fallback"] == "original"


def test_calls_and_their_cost_today_on_the_stats_api_page_and_metrics(
    booth: Booth, gemini_slot: str
) -> None:
    Slot.objects.filter(pk=SLOT).update(daily_paid_calls_cap=10)
    guests(booth, 2)
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]
    staff = Client()
    staff.force_login(staff_with_role("viewer", EVENT_OPERATOR))
    metrics_cache_clear()

    api = booth.http.get("/api/stats/paid-calls", headers={"Authorization": f"Bearer {token}"})
    page = staff.get("/admin/stats/").content.decode()
    metrics = Client().get("/metrics").content.decode()

    body = api.json()
    assert body["rows"] == [{"slot_id": SLOT, "provider": "gemini", "calls": 2, "cost": "0.0780"}]
    assert (body["total_calls"], Decimal(body["total_cost"])) == (2, Decimal("0.078"))
    assert body["slot_caps"] == {SLOT: 10}
    assert '<td class="num">2</td>' in page
    assert '<td class="num">0.08</td>' in page
    assert 'photochanger_paid_calls_today{provider="gemini",slot="slot-006"} 2.0' in metrics
    assert 'photochanger_estimated_cost_today{provider="gemini",slot="slot-006"} 0.078' in metrics
