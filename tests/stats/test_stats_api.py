"""GET /api/stats/overview and /api/stats/slots: staff only, windows checked, figures as JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from ingest.models import JobStatus
from photochanger.tokens import api_token_create
from tests.stats.conftest import make_job

NOW = datetime(2026, 3, 1, 18, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("slots")


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def some_jobs(slots: None) -> None:
    make_job("slot-001", started_at=NOW - timedelta(minutes=3), duration_ms=1200)
    make_job("slot-001", started_at=NOW - timedelta(minutes=4), duration_ms=800)
    make_job(
        "slot-002",
        started_at=NOW - timedelta(minutes=2),
        status=JobStatus.FAILED,
        failure_reason="rate_limited",
        http_status=429,
        duration_ms=3,
    )
    make_job("slot-002", started_at=NOW - timedelta(hours=2), duration_ms=5000)


def test_overview_answers_totals_series_and_recent_failures(
    staff_client: Client, some_jobs: None
) -> None:
    response = staff_client.get("/api/stats/overview", {"window_minutes": 5})

    assert response.status_code == 200
    body = response.json()
    assert body["window"]["minutes"] == 5
    assert body["window"]["bucket_seconds"] == 60
    totals = body["totals"]
    assert (totals["jobs"], totals["done"], totals["failed"], totals["rate_limited"]) == (
        3,
        2,
        1,
        1,
    )
    assert totals["success_rate"] == pytest.approx(0.6667)
    assert totals["p50_ms"] == pytest.approx(800)  # 3, 800, 1200
    assert totals["failures_by_reason"] == {"rate_limited": 1}
    assert len(body["series"]) == 5
    assert body["series"][-2]["failed"] == 1  # 17:58
    assert body["recent_failures"][0]["failure_reason"] == "rate_limited"
    assert body["recent_failures"][0]["http_status"] == 429
    empty = {"total_bytes": 0, "by_kind": {"result": 0, "thumbnail": 0, "provider_media": 0}}
    assert body["storage_now"] == empty


def test_overview_window_defaults_to_an_hour(staff_client: Client, some_jobs: None) -> None:
    body = staff_client.get("/api/stats/overview").json()
    assert body["window"]["minutes"] == 60
    assert body["totals"]["jobs"] == 3


def test_slots_answers_every_slot(staff_client: Client, some_jobs: None) -> None:
    response = staff_client.get("/api/stats/slots", {"window_minutes": 180})

    assert response.status_code == 200
    slots = {slot["slot_id"]: slot for slot in response.json()["slots"]}
    assert len(slots) == 15
    assert slots["slot-001"]["jobs"] == 2
    assert slots["slot-001"]["p95_ms"] == pytest.approx(1180)  # 800 + 0.95 * 400
    assert slots["slot-002"]["jobs"] == 2
    assert slots["slot-002"]["rate_limited"] == 1
    assert slots["slot-002"]["display_name"] == "Black and white"
    assert slots["slot-015"]["success_rate"] is None


@pytest.mark.parametrize("path", ["/api/stats/overview", "/api/stats/slots"])
@pytest.mark.parametrize("window_minutes", [0, 4, 4321, "an hour"])
def test_window_out_of_range_is_422_naming_the_field(
    staff_client: Client, path: str, window_minutes: object
) -> None:
    response = staff_client.get(path, {"window_minutes": window_minutes})

    assert response.status_code == 422
    body = response.json()
    assert body["failure_reason"] == "invalid_request"
    assert list(body["errors"]) == ["window_minutes"]


@pytest.mark.parametrize("path", ["/api/stats/overview", "/api/stats/slots"])
def test_anonymous_is_401(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 401


def test_non_staff_session_is_401(django_user_model: object) -> None:
    user = django_user_model.objects.create_user("guest", password="x" * 12)
    client = Client()
    client.force_login(user)
    assert client.get("/api/stats/overview").status_code == 401


def test_staff_api_token_is_accepted(staff_user: object, some_jobs: None) -> None:
    _token, plaintext = api_token_create(user=staff_user, name="grafana")

    response = Client().get(
        "/api/stats/overview?window_minutes=5", headers={"Authorization": f"Bearer {plaintext}"}
    )

    assert response.status_code == 200
    assert response.json()["totals"]["jobs"] == 3
