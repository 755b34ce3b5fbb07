"""Statistics over a known set of jobs, checked against figures worked out by hand.

The window is the hour before NOW. In it (minutes before NOW, duration in ms):

    slot-001  done 10.5/1000, done 20/2000, done 30/3000, done 40/4000, failed provider_error 5/500
    slot-002  done 15/100, timeout 25/48000, failed rate_limited 2/5, pending 1
    slot-003  test-run done 50/600
and outside it: slot-003 done 90 minutes before (7000 ms), and one started exactly at NOW.

The figures are asked of every source (``source=None``), the test run included, unless a test
says otherwise. The nine finished durations, sorted: 5 100 500 600 1000 2000 3000 4000 48000.
p50 sits at position 0.5 * 8 = 4 → 1000; p95 at 0.95 * 8 = 7.6 → 4000 + 0.6 * 44000 = 30400.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import JobSource, JobStatus
from media.models import MediaKind
from stats.selectors import RECENT_FAILURES, bucket_seconds, stats_overview, stats_slots
from tests.stats.conftest import make_job, make_media

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("slots")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
def known_jobs(slots: None) -> dict[str, object]:
    jobs = {
        "a": make_job("slot-001", started_at=ago(10.5), duration_ms=1000),
        "b": make_job("slot-001", started_at=ago(20), duration_ms=2000),
        "c": make_job("slot-001", started_at=ago(30), duration_ms=3000),
        "d": make_job("slot-001", started_at=ago(40), duration_ms=4000),
        "e": make_job(
            "slot-001",
            started_at=ago(5),
            status=JobStatus.FAILED,
            failure_reason="provider_error",
            http_status=502,
            duration_ms=500,
        ),
        "f": make_job("slot-002", started_at=ago(15), duration_ms=100),
        "g": make_job(
            "slot-002",
            started_at=ago(25),
            status=JobStatus.TIMEOUT,
            failure_reason="provider_timeout",
            http_status=504,
            duration_ms=48000,
        ),
        "h": make_job(
            "slot-002",
            started_at=ago(2),
            status=JobStatus.FAILED,
            failure_reason="rate_limited",
            http_status=429,
            duration_ms=5,
        ),
        "i": make_job("slot-002", started_at=ago(1), status=JobStatus.PENDING),
        "j": make_job("slot-003", started_at=ago(50), duration_ms=600, source=JobSource.TEST_RUN),
        "old": make_job("slot-003", started_at=ago(90), duration_ms=7000),
        "at_now": make_job("slot-004", started_at=NOW, duration_ms=9),
    }
    make_media(jobs["a"], MediaKind.RESULT, 1000, name="results/a.jpg")
    make_media(jobs["a"], MediaKind.THUMBNAIL, 50, name="thumbnails/a.webp")
    make_media(jobs["g"], MediaKind.PROVIDER_MEDIA, 300, name="provider-media/g.jpg")
    make_media(jobs["old"], MediaKind.RESULT, 4000, name="results/old.jpg")
    return jobs


def test_totals_count_every_job_started_in_the_window(known_jobs: dict) -> None:
    totals = stats_overview(window_minutes=60, now=NOW, source=None).totals

    assert totals.jobs == 10
    assert totals.done == 6
    assert totals.failed == 2
    assert totals.timeouts == 1
    assert totals.rate_limited == 1
    assert totals.in_flight == 1
    assert totals.failures_by_reason == {"provider_error": 1, "rate_limited": 1}


def test_success_rate_is_done_over_finished_jobs(known_jobs: dict) -> None:
    rate = stats_overview(window_minutes=60, now=NOW, source=None).totals.success_rate
    assert rate == pytest.approx(6 / 9, abs=1e-4)


def test_total_percentiles_interpolate_like_percentile_cont(known_jobs: dict) -> None:
    totals = stats_overview(window_minutes=60, now=NOW, source=None).totals
    assert totals.p50_ms == pytest.approx(1000)
    assert totals.p95_ms == pytest.approx(30400)


def test_window_is_half_open_and_reaches_back_exactly(known_jobs: dict) -> None:
    assert stats_overview(window_minutes=89, now=NOW, source=None).totals.jobs == 10
    assert stats_overview(window_minutes=90, now=NOW, source=None).totals.jobs == 11


def test_per_slot_figures(known_jobs: dict) -> None:
    by_slot = {
        slot.slot_id: slot for slot in stats_slots(window_minutes=60, now=NOW, source=None).slots
    }

    first = by_slot["slot-001"]
    assert (first.jobs, first.done, first.failed, first.timeouts) == (5, 4, 1, 0)
    assert first.success_rate == pytest.approx(0.8)
    assert first.p50_ms == pytest.approx(2000)
    assert first.p95_ms == pytest.approx(3800)  # 3000 + 0.8 * 1000
    assert first.failures_by_reason == {"provider_error": 1}

    second = by_slot["slot-002"]
    assert (second.jobs, second.done, second.failed, second.timeouts) == (4, 1, 1, 1)
    assert (second.rate_limited, second.in_flight) == (1, 1)
    assert second.success_rate == pytest.approx(1 / 3, abs=1e-4)
    assert second.p50_ms == pytest.approx(100)
    assert second.p95_ms == pytest.approx(43210)  # 100 + 0.9 * 47900

    third = by_slot["slot-003"]
    assert (third.jobs, third.done, third.p50_ms, third.p95_ms) == (1, 1, 600, 600)


def test_every_slot_is_listed_even_without_jobs(known_jobs: dict) -> None:
    slots = stats_slots(window_minutes=60, now=NOW).slots

    assert [slot.slot_id for slot in slots] == [f"slot-{n:03d}" for n in range(1, 16)]
    idle = slots[9]
    assert (idle.jobs, idle.success_rate, idle.p50_ms, idle.p95_ms) == (0, None, None, None)
    assert idle.window_storage.total_bytes == 0


def test_source_filter_leaves_out_test_runs(known_jobs: dict) -> None:
    totals = stats_overview(window_minutes=60, now=NOW, source=JobSource.INGEST).totals
    assert (totals.jobs, totals.done) == (9, 5)
    # Without the 600 ms test run: 5 100 500 1000 2000 3000 4000 48000 → p50 at 3.5.
    assert totals.p50_ms == pytest.approx(1500)


def test_window_storage_per_slot_is_summed_by_kind(known_jobs: dict) -> None:
    by_slot = {slot.slot_id: slot for slot in stats_slots(window_minutes=60, now=NOW).slots}

    assert by_slot["slot-001"].window_storage.by_kind == {
        "result": 1000,
        "thumbnail": 50,
        "provider_media": 0,
    }
    assert by_slot["slot-002"].window_storage.total_bytes == 300
    assert by_slot["slot-003"].window_storage.total_bytes == 0  # its result is an older job's


def test_storage_now_counts_every_file(known_jobs: dict) -> None:
    storage_now = stats_overview(window_minutes=60, now=NOW).storage_now
    assert storage_now.by_kind == {"result": 5000, "thumbnail": 50, "provider_media": 300}
    assert storage_now.total_bytes == 5350


def test_series_has_every_minute_bucket_of_the_hour(known_jobs: dict) -> None:
    series = stats_overview(window_minutes=60, now=NOW, source=None).series

    assert len(series) == 60
    assert series[0].start == ago(60)
    assert series[-1].start == ago(1)
    by_start = {bucket.start: bucket for bucket in series}
    # 10.5 minutes before noon is 11:49:30, in the 11:49 bucket.
    assert by_start[ago(11)].jobs == 1
    assert by_start[ago(11)].p50_ms == pytest.approx(1000)
    assert by_start[ago(10)].jobs == 0
    assert by_start[ago(25)].timeouts == 1
    assert by_start[ago(25)].p95_ms == pytest.approx(48000)
    assert sum(bucket.jobs for bucket in series) == 10


def test_series_of_a_day_uses_quarter_hours(known_jobs: dict) -> None:
    series = stats_overview(window_minutes=24 * 60, now=NOW, source=None).series

    assert len(series) == 96
    by_start = {bucket.start: bucket for bucket in series}
    # 11:45 (its first instant), 11:49:30, 11:55, 11:58 and 11:59 fall in the 11:45 bucket;
    # 10:30 is the job 90 minutes before noon.
    assert by_start[ago(15)].jobs == 5
    assert by_start[ago(90)].jobs == 1
    assert by_start[ago(90)].p50_ms == pytest.approx(7000)
    assert sum(bucket.jobs for bucket in series) == 11


@pytest.mark.parametrize(
    ("window_minutes", "seconds"),
    [(5, 60), (60, 60), (61, 300), (360, 300), (1440, 900), (4320, 3600)],
)
def test_bucket_length_suits_the_window(window_minutes: int, seconds: int) -> None:
    assert bucket_seconds(window_minutes) == seconds


def test_recent_failures_are_newest_first_with_reason_and_status(known_jobs: dict) -> None:
    failures = stats_overview(window_minutes=60, now=NOW).recent_failures

    assert [(f.slot_id, f.failure_reason, f.http_status) for f in failures] == [
        ("slot-002", "rate_limited", 429),
        ("slot-001", "provider_error", 502),
        ("slot-002", "provider_timeout", 504),
    ]
    assert failures[0].job_id == str(known_jobs["h"].pk)
    assert failures[0].started_at == ago(2)


def test_recent_failures_stop_at_twenty() -> None:
    for minute in range(25):
        make_job(
            "slot-001",
            started_at=ago(minute + 1),
            status=JobStatus.FAILED,
            failure_reason="provider_error",
            http_status=502,
        )
    failures = stats_overview(window_minutes=60, now=NOW).recent_failures
    assert len(failures) == RECENT_FAILURES == 20
    assert failures[-1].started_at == ago(20)


def test_empty_window_has_zeros_and_no_percentiles() -> None:
    overview = stats_overview(window_minutes=5, now=NOW)
    assert overview.totals.jobs == 0
    assert overview.totals.success_rate is None
    assert overview.totals.p50_ms is None
    assert len(overview.series) == 5
    assert overview.recent_failures == []


def test_window_outside_the_allowed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="window_minutes"):
        stats_overview(window_minutes=4, now=NOW)
    with pytest.raises(ValueError, match="window_minutes"):
        stats_slots(window_minutes=4321, now=NOW)


def percentile_cont(values: list[int], fraction: float) -> float:
    """The reference: linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def test_percentiles_per_slot_match_the_reference_on_random_durations() -> None:
    rng = random.Random(7)
    durations: dict[str, list[int]] = {}
    for slot_number, count in ((1, 1), (2, 2), (3, 17), (4, 100)):
        slot_id = f"slot-{slot_number:03d}"
        durations[slot_id] = [rng.randint(1, 60000) for _ in range(count)]
        for duration in durations[slot_id]:
            make_job(slot_id, started_at=ago(rng.uniform(0.1, 59)), duration_ms=duration)

    by_slot = {slot.slot_id: slot for slot in stats_slots(window_minutes=60, now=NOW).slots}

    for slot_id, values in durations.items():
        assert by_slot[slot_id].p50_ms == pytest.approx(percentile_cont(values, 0.5), abs=0.05)
        assert by_slot[slot_id].p95_ms == pytest.approx(percentile_cont(values, 0.95), abs=0.05)
    every = [value for values in durations.values() for value in values]
    totals = stats_overview(window_minutes=60, now=NOW).totals
    assert totals.p95_ms == pytest.approx(percentile_cont(every, 0.95), abs=0.05)
