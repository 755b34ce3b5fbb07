"""GET /metrics: Prometheus text format, values from the database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import DjangoAssertNumQueries

from ingest.models import JobSource, JobStatus
from media.models import MediaKind
from photochanger.tokens import api_token_create
from stats.metrics import CONTENT_TYPE, metrics_cache_clear
from tests.roles import EVENT_OPERATOR, staff_with_role
from tests.stats.conftest import make_job, make_media

pytestmark = pytest.mark.usefixtures("slots")

# name{labels} value, as the text format 0.0.4 writes a sample.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="[^"\\]*",?)*\})? (\S+)$')


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        found[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return found


@pytest.fixture
def some_jobs(slots: None) -> None:
    now = timezone.now()
    first = make_job("slot-001", started_at=now - timedelta(days=5), duration_ms=80)
    make_job("slot-001", started_at=now - timedelta(minutes=1), duration_ms=1500)
    make_job("slot-001", started_at=now, duration_ms=48000)
    make_job(
        "slot-001",
        started_at=now,
        status=JobStatus.TIMEOUT,
        failure_reason="provider_timeout",
        http_status=504,
        duration_ms=48001,
    )
    make_job(
        "slot-002",
        started_at=now,
        status=JobStatus.FAILED,
        failure_reason="rate_limited",
        http_status=429,
        duration_ms=2,
    )
    make_job("slot-002", started_at=now, source=JobSource.TEST_RUN, duration_ms=300)
    make_job("slot-003", started_at=now, status=JobStatus.PENDING)
    make_media(first, MediaKind.RESULT, 5000, name="results/first.jpg")
    make_media(first, MediaKind.THUMBNAIL, 700, name="thumbnails/first.webp")


def test_metrics_are_in_the_prometheus_text_format(some_jobs: None) -> None:
    response = Client().get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE
    text = response.content.decode()
    assert text.endswith("\n")
    assert "# TYPE photochanger_ingest_jobs_total counter" in text
    assert "# TYPE photochanger_job_duration_seconds histogram" in text
    assert "# TYPE photochanger_media_bytes gauge" in text
    assert "# TYPE photochanger_jobs_in_flight gauge" in text
    samples(text)  # every other line is a well-formed sample


def test_jobs_total_by_slot_source_and_outcome(some_jobs: None) -> None:
    values = samples(Client().get("/metrics").content.decode())

    total = "photochanger_ingest_jobs_total"
    # prometheus_client writes labels sorted by name.
    assert values[f'{total}{{outcome="done",slot="slot-001",source="ingest"}}'] == 3
    assert values[f'{total}{{outcome="timeout",slot="slot-001",source="ingest"}}'] == 1
    assert values[f'{total}{{outcome="rate_limited",slot="slot-002",source="ingest"}}'] == 1
    assert values[f'{total}{{outcome="done",slot="slot-002",source="test_run"}}'] == 1
    assert not any("slot-003" in key for key in values if key.startswith(total))


def test_duration_histogram_is_cumulative_per_slot_and_source(some_jobs: None) -> None:
    values = samples(Client().get("/metrics").content.decode())

    bucket = "photochanger_job_duration_seconds_bucket"
    booth = 'slot="slot-001",source="ingest"'
    # slot-001: 0.08 s, 1.5 s, 48 s, 48.001 s.
    assert values[f'{bucket}{{le="0.1",{booth}}}'] == 1
    assert values[f'{bucket}{{le="1.0",{booth}}}'] == 1
    assert values[f'{bucket}{{le="2.5",{booth}}}'] == 2
    assert values[f'{bucket}{{le="48.0",{booth}}}'] == 3
    assert values[f'{bucket}{{le="60.0",{booth}}}'] == 4
    assert values[f'{bucket}{{le="+Inf",{booth}}}'] == 4
    assert values[f"photochanger_job_duration_seconds_count{{{booth}}}"] == 4
    assert values[f"photochanger_job_duration_seconds_sum{{{booth}}}"] == pytest.approx(97.581)
    # slot-002: the booth's 0.002 s, and a test run's 0.3 s under its own label value.
    count = "photochanger_job_duration_seconds_count"
    assert values[f'{count}{{slot="slot-002",source="ingest"}}'] == 1
    assert values[f'{count}{{slot="slot-002",source="test_run"}}'] == 1
    assert values[f'{bucket}{{le="0.25",slot="slot-002",source="test_run"}}'] == 0


def test_media_bytes_and_jobs_in_flight(some_jobs: None) -> None:
    values = samples(Client().get("/metrics").content.decode())

    assert values['photochanger_media_bytes{kind="result"}'] == 5000
    assert values['photochanger_media_bytes{kind="thumbnail"}'] == 700
    assert values['photochanger_media_bytes{kind="provider_media"}'] == 0
    assert values['photochanger_jobs_in_flight{source="ingest"}'] == 1
    assert values['photochanger_jobs_in_flight{source="test_run"}'] == 0


def test_text_parses_into_the_families(some_jobs: None) -> None:
    text = Client().get("/metrics").content.decode()

    families = {family.name: family for family in text_string_to_metric_families(text)}
    # The parser names a counter without "_total"; its samples keep it.
    assert {name: family.type for name, family in families.items()} == {
        "photochanger_ingest_jobs": "counter",
        "photochanger_job_duration_seconds": "histogram",
        "photochanger_media_bytes": "gauge",
        "photochanger_jobs_in_flight": "gauge",
        "photochanger_paid_calls_today": "gauge",
        "photochanger_estimated_cost_today": "gauge",
    }
    jobs = {
        (s.labels["slot"], s.labels["source"], s.labels["outcome"]): s.value
        for s in families["photochanger_ingest_jobs"].samples
    }
    assert jobs == {
        ("slot-001", "ingest", "done"): 3,
        ("slot-001", "ingest", "timeout"): 1,
        ("slot-002", "ingest", "rate_limited"): 1,
        ("slot-002", "test_run", "done"): 1,
    }
    assert {s.name for s in families["photochanger_ingest_jobs"].samples} == {
        "photochanger_ingest_jobs_total"
    }
    slot_001 = {
        (s.name, s.labels.get("le")): s.value
        for s in families["photochanger_job_duration_seconds"].samples
        if s.labels["slot"] == "slot-001"
    }
    edges = ["0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "20.0", "30.0", "48.0"]
    edges += ["60.0", "120.0", "+Inf"]
    bucket = "photochanger_job_duration_seconds_bucket"
    assert [slot_001[(bucket, edge)] for edge in edges] == [1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 4, 4, 4]
    assert slot_001[("photochanger_job_duration_seconds_count", None)] == 4
    assert slot_001[("photochanger_job_duration_seconds_sum", None)] == pytest.approx(97.581)
    media = {s.labels["kind"]: s.value for s in families["photochanger_media_bytes"].samples}
    assert media == {"result": 5000, "thumbnail": 700, "provider_media": 0}
    assert [s.value for s in families["photochanger_jobs_in_flight"].samples] == [1, 0]


def test_no_process_metrics_of_the_answering_worker(some_jobs: None) -> None:
    text = Client().get("/metrics").content.decode()

    names = {family.name for family in text_string_to_metric_families(text)}
    assert all(name.startswith("photochanger_") for name in names)


def test_uncached_scrape_costs_five_queries_however_many_jobs(
    some_jobs: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for slot in ("slot-003", "slot-004", "slot-005"):
        make_job(slot, started_at=timezone.now(), duration_ms=700)

    # Finished jobs in one grouped scan, media bytes, pending jobs, the settings (prices) and
    # today's paid calls.
    with django_assert_num_queries(5):
        Client().get("/metrics")


def test_metrics_are_cached_for_a_few_seconds(some_jobs: None) -> None:
    before = Client().get("/metrics").content
    make_job("slot-004", started_at=timezone.now(), duration_ms=10)

    assert Client().get("/metrics").content == before
    metrics_cache_clear()
    assert b'slot="slot-004"' in Client().get("/metrics").content


# A client on the event's network, not on the server's machine.
FROM_THE_LAN = {"REMOTE_ADDR": "192.168.1.50"}


def test_metrics_are_not_open_to_the_network_by_default(slots: None) -> None:
    response = Client(**FROM_THE_LAN).get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"slot-001" not in response.content


def test_a_request_forwarded_by_a_proxy_on_this_machine_is_not_local(slots: None) -> None:
    response = Client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 401


@override_settings(METRICS_TOKEN="scrape-token-123")
def test_metrics_token_opens_them_from_anywhere(slots: None) -> None:
    wrong = Client(**FROM_THE_LAN).get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = Client(**FROM_THE_LAN).get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-123"}
    )
    assert right.status_code == 200


@pytest.mark.parametrize(("role", "status"), [(EVENT_OPERATOR, 200), (None, 401)])
def test_a_staff_token_opens_them_when_its_owner_may_view_statistics(
    slots: None, role: str | None, status: int
) -> None:
    token = api_token_create(user=staff_with_role("scraper", role), name="prometheus")[1]

    response = Client(**FROM_THE_LAN).get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == status


def test_empty_database_still_answers_every_family(slots: None) -> None:
    text = Client().get("/metrics").content.decode()
    assert 'photochanger_jobs_in_flight{source="ingest"} 0.0\n' in text
    assert 'photochanger_media_bytes{kind="result"} 0.0\n' in text
