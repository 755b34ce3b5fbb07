"""Failures come with their details and a link to the job; test runs are counted apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus
from tests.stats.conftest import make_job
from tests.stats.test_metrics import samples

pytestmark = pytest.mark.usefixtures("slots")


def failed_job(slot_id: str, *, minutes_ago: float, source: str = JobSource.INGEST) -> Job:
    job = make_job(
        slot_id,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        status=JobStatus.FAILED,
        failure_reason="provider_error",
        http_status=502,
        source=source,
    )
    Job.objects.filter(pk=job.pk).update(failure_details=f"the provider said no to {slot_id}")
    return job


@pytest.fixture
def booth_and_test_runs(slots: None) -> dict[str, Job]:
    now = timezone.now()
    return {
        "booth_done": make_job("slot-001", started_at=now - timedelta(minutes=3)),
        "booth_failed": failed_job("slot-001", minutes_ago=2),
        "test_done": make_job(
            "slot-001", started_at=now - timedelta(minutes=4), source=JobSource.TEST_RUN
        ),
        "test_failed": failed_job("slot-002", minutes_ago=1, source=JobSource.TEST_RUN),
    }


def test_recent_failures_carry_the_details_and_the_jobs_page(
    staff_client: Client, booth_and_test_runs: dict[str, Job]
) -> None:
    job = booth_and_test_runs["booth_failed"]

    [failure] = staff_client.get("/api/stats/overview").json()["recent_failures"]

    assert failure["job_id"] == str(job.pk)
    assert failure["failure_reason"] == "provider_error"
    assert failure["failure_details"] == "the provider said no to slot-001"
    assert failure["job_url"] == f"/admin/ingest/job/{job.pk}/change/"
    assert staff_client.get(failure["job_url"]).status_code == 200


def test_test_runs_are_left_out_of_the_totals_and_shown_apart(
    staff_client: Client, booth_and_test_runs: dict[str, Job]
) -> None:
    body = staff_client.get("/api/stats/overview").json()

    assert (body["totals"]["jobs"], body["totals"]["done"], body["totals"]["failed"]) == (2, 1, 1)
    assert sum(bucket["jobs"] for bucket in body["series"]) == 2
    assert [f["source"] for f in body["recent_failures"]] == ["ingest"]
    assert (body["test_runs"]["jobs"], body["test_runs"]["failed"]) == (2, 1)
    [test_failure] = body["recent_test_run_failures"]
    assert test_failure["job_id"] == str(booth_and_test_runs["test_failed"].pk)
    assert test_failure["failure_details"] == "the provider said no to slot-002"


def test_per_slot_figures_leave_out_test_runs(
    staff_client: Client, booth_and_test_runs: dict[str, Job]
) -> None:
    slots = {s["slot_id"]: s for s in staff_client.get("/api/stats/slots").json()["slots"]}

    assert slots["slot-001"]["jobs"] == 2
    assert slots["slot-002"]["jobs"] == 0


def test_every_source_when_asked(staff_client: Client, booth_and_test_runs: dict[str, Job]) -> None:
    every = staff_client.get("/api/stats/overview", {"source": "all"}).json()
    test_runs = staff_client.get("/api/stats/overview", {"source": "test_run"}).json()

    assert every["totals"]["jobs"] == 4
    assert test_runs["totals"]["jobs"] == 2


def test_metrics_keep_test_runs_under_their_own_label_value(
    booth_and_test_runs: dict[str, Job],
) -> None:
    make_job("slot-003", started_at=timezone.now(), status=JobStatus.PENDING)
    make_job(
        "slot-003", started_at=timezone.now(), status=JobStatus.PENDING, source=JobSource.TEST_RUN
    )
    make_job(
        "slot-003", started_at=timezone.now(), status=JobStatus.PENDING, source=JobSource.TEST_RUN
    )

    values = samples(Client().get("/metrics").content.decode())

    count = "photochanger_job_duration_seconds_count"
    assert values[f'{count}{{slot="slot-001",source="ingest"}}'] == 2
    assert values[f'{count}{{slot="slot-001",source="test_run"}}'] == 1
    assert values['photochanger_jobs_in_flight{source="ingest"}'] == 1
    assert values['photochanger_jobs_in_flight{source="test_run"}'] == 2
