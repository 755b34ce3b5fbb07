"""The log of every booth request, refused ones included: written after the answer, never the
password or the photo, identical refusals folded per address and minute, memory bounded, shown
to staff through the API and the statistics page, pruned by cleanup_media."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from photochanger.models import BoothRequest
from photochanger.request_log import BoothRequestEntry, RequestLog, request_log
from photochanger.tokens import api_token_create
from slots.models import Slot
from tests.booth import INGEST_PASSWORD, Booth
from tests.images import jpeg_bytes
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def logged() -> list[BoothRequest]:
    request_log.flush()
    return list(BoothRequest.objects.order_by("at", "pk"))


def test_answered_and_refused_requests_are_logged_without_the_password(booth: Booth) -> None:
    photo = jpeg_bytes()
    refused = booth.post_photo("slot-001", photo, password="not-the-password")
    unknown = booth.post_photo("slot-999", photo)
    done = booth.post_photo("slot-001", photo)

    rows = logged()

    assert [(row.slot_sent, row.status, row.reason) for row in rows] == [
        ("slot-001", refused.status_code, "invalid_password"),
        ("slot-999", unknown.status_code, "slot_not_found"),
        ("slot-001", 200, ""),
    ]
    assert {row.client for row in rows} == {booth.address}
    assert rows[2].job_id == uuid.UUID(done.headers["x-job-id"])
    assert rows[0].job_id is None
    assert all(row.bytes and row.bytes > len(photo) for row in rows)
    for row in rows:
        assert INGEST_PASSWORD not in str(vars(row))
        assert "not-the-password" not in str(vars(row))


def test_identical_refusals_of_one_minute_are_one_row(booth: Booth) -> None:
    Slot.objects.filter(pk="slot-002").update(is_active=False)
    photo = jpeg_bytes((64, 48))
    now = timezone.now().replace(second=5)
    entries = [
        BoothRequestEntry(now, booth.address, "Breeze", "slot-002", 404, "slot_disabled", 9, None)
        for _ in range(40)
    ]
    for entry in entries:
        request_log.record(entry)
    booth.post_photo("slot-002", photo)  # and one through the endpoint, in the same minute

    rows = logged()

    folded = [row for row in rows if row.reason == "slot_disabled"]
    assert len(folded) <= 2  # two only if the request crossed into the next minute
    assert sum(row.count for row in folded) == 41


def test_a_slow_database_cannot_grow_the_buffer_without_bound(
    configured: None, caplog: pytest.LogCaptureFixture
) -> None:
    log = RequestLog(max_pending=100)
    now = timezone.now()
    for _ in range(250):  # answered requests: one row each, never folded
        log.record(BoothRequestEntry(now, "10.0.0.9", "", "slot-001", 200, "", 1, uuid.uuid4()))

    log.flush()

    assert BoothRequest.objects.count() == 100
    assert "150 requests not logged" in caplog.text


def test_staff_read_the_log_newest_first_and_filtered(booth: Booth) -> None:
    photo = jpeg_bytes()
    booth.post_photo("slot-001", photo, password="wrong-password")
    booth.post_photo("slot-001", photo)
    request_log.flush()
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]
    headers = {"Authorization": f"Bearer {token}"}

    everything = booth.http.get("/api/stats/requests", headers=headers).json()
    refused = booth.http.get("/api/stats/requests?outcome=refused", headers=headers).json()
    other = booth.http.get("/api/stats/requests?client=10.9.9.9", headers=headers).json()

    assert [row["status"] for row in everything] == [200, 401]
    assert [row["reason"] for row in refused] == ["invalid_password"]
    assert other == []
    anonymous = Client().get("/api/stats/requests")
    assert anonymous.status_code == 401


def test_the_statistics_page_has_the_log(configured: None) -> None:
    staff = Client()
    staff.force_login(staff_with_role("op", EVENT_OPERATOR))

    page = staff.get("/admin/stats/").content.decode()

    assert 'id="stats-requests"' in page
    assert 'data-requests-url="/api/stats/requests"' in page


def test_cleanup_media_prunes_rows_older_than_the_result_ttl(configured: None) -> None:
    old = timezone.now() - timedelta(hours=73)
    for at in (old, timezone.now()):
        BoothRequest.objects.create(
            at=at, last_at=at, client="10.0.0.1", slot_sent="slot-001", status=200
        )

    call_command("cleanup_media", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert BoothRequest.objects.count() == 1
