"""Clients that keep failing are refused for a while; others are not; logs keep no secrets."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.conf import settings

from slots.models import GlobalSettings
from tests.booth import INGEST_PASSWORD, Booth

pytestmark = pytest.mark.django_db(transaction=True)


def test_repeated_wrong_passwords_get_429_for_that_client_only(booth: Booth, photo: bytes) -> None:
    for _ in range(settings.INGEST_PASSWORD_FAILURES):
        assert booth.post_photo("slot-001", photo, password="guess").status_code == 401

    refused = booth.post_photo("slot-001", photo)  # even the right password, for a while
    other_client = Booth()
    accepted = other_client.post_photo("slot-001", photo)
    other_client.close()

    assert refused.status_code == 429
    assert refused.json()["failure_reason"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 300
    assert accepted.status_code == 200


def test_guessing_result_links_gets_429_for_that_client_only(booth: Booth, photo: bytes) -> None:
    job_id = booth.post_photo("slot-001", photo).headers["x-job-id"]
    for _ in range(settings.RESULT_GUESS_FAILURES):
        assert booth.http.get(f"/public/results/{uuid.uuid4()}").status_code == 404

    refused = booth.http.get(f"/public/results/{job_id}")
    other_client = Booth()
    served = other_client.http.get(f"/public/results/{job_id}")
    other_client.close()

    assert refused.status_code == 429
    assert "retry-after" in refused.headers
    assert served.status_code == 200


def test_each_job_logs_one_structured_line_without_secrets(
    booth: Booth, photo: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    GlobalSettings.objects.update(gemini_api_key="AIza-secret-key-for-log-test")
    caplog.set_level(logging.DEBUG)
    job_id = booth.post_photo(
        "slot-002", photo, fields={"hash": "ab" * 20, "user_id": "Acer"}
    ).headers["x-job-id"]
    booth.post_photo("slot-002", photo, password="wrong-one")

    log = caplog.text
    lines = [line for line in log.splitlines() if "job_finished" in line]
    assert len(lines) == 1
    line = lines[0]
    for expected in (
        f"job={job_id}",
        "slot=slot-002",
        "source=ingest",
        "provider=local",
        "status=done",
        "http=200",
        "duration_ms=",
    ):
        assert expected in line
    for secret in (INGEST_PASSWORD, "wrong-one", "AIza-secret-key-for-log-test"):
        assert secret not in log
    assert "\\xff\\xd8" not in log  # no image bytes
