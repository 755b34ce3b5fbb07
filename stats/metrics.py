"""GET /metrics: the Prometheus text exposition format (version 0.0.4), from the database.

A custom prometheus_client collector reads every value from the job and media tables at scrape
time, in grouped queries, instead of counting in process memory: the server runs several worker
processes, and whichever one Prometheus reaches must answer the deployment's numbers, not its
own share of them. The collector sits in a registry of our own rather than the library's
default one, whose process and platform metrics describe one worker and would pass for the
deployment's. The text is kept for a few seconds in the process so a burst of scrapes costs one
set of queries.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from ingest.costs import paid_calls_today
from ingest.models import Job, JobSource, JobStatus
from media.models import MediaKind, StoredMedia
from slots.services import settings_get

# Not CONTENT_TYPE_LATEST, which is text format 1.0.0 in prometheus_client 0.26: the library's
# own handlers answer 0.0.4 unless the scraper asks for 1.0.0, every Prometheus version reads
# 0.0.4, and 1.0.0 adds only UTF-8 metric and label names, which ours do not use.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CACHE_SECONDS = 5.0
# Seconds; 48 is the default deadline (T_sync_response), so a bucket edge falls right on it.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 48, 60, 120)

_lock = threading.Lock()
_cached: tuple[float, str] | None = None


def metrics_text() -> str:
    """The exposition text, at most CACHE_SECONDS old."""
    global _cached
    with _lock:  # concurrent scrapes wait for one set of queries instead of each running it
        if _cached is None or time.monotonic() - _cached[0] > CACHE_SECONDS:
            _cached = (time.monotonic(), generate_latest(_registry).decode())
        return _cached[1]


def metrics_cache_clear() -> None:
    global _cached
    with _lock:
        _cached = None


def job_outcome(status: str, failure_reason: str) -> str:
    """``done``, ``timeout``, or the failure_reason of a failed job."""
    if status == JobStatus.FAILED:
        return failure_reason or "failed"
    return status


class DatabaseCollector:
    """The families, from the database at each collect(). Every job family has a
    ``source`` label (``ingest``: the booth's; ``test_run``: staff's), never summed across
    sources: a dashboard shows the event with ``source="ingest"``."""

    def collect(self) -> Iterator[Metric]:
        jobs_total: dict[tuple[str, str, str], int] = defaultdict(int)
        histograms: dict[tuple[str, str], list[float]] = {}
        for row in _finished_job_rows():
            outcome = job_outcome(row["status"], row["failure_reason"])
            jobs_total[(row["slot_id"], row["source"], outcome)] += row["jobs"]
            # Per slot and source: cumulative bucket counts, then the count and the sum of
            # timed jobs.
            histogram = histograms.setdefault(
                (row["slot_id"], row["source"]), [0.0] * (len(DURATION_BUCKETS) + 2)
            )
            for index in range(len(DURATION_BUCKETS)):
                histogram[index] += row[f"le_{index}"]
            histogram[-2] += row["timed"]
            histogram[-1] += (row["duration_ms_sum"] or 0) / 1000

        # Named without "_total": the library appends it to a counter's name and samples.
        jobs = CounterMetricFamily(
            "photochanger_ingest_jobs",
            "Finished jobs by slot, source and outcome (done, timeout, or the failure reason).",
            labels=("slot", "source", "outcome"),
        )
        for labels, count in sorted(jobs_total.items()):
            jobs.add_metric(labels, count)
        yield jobs

        durations = HistogramMetricFamily(
            "photochanger_job_duration_seconds",
            "Time from the request to the booth's answer, finished jobs.",
            labels=("slot", "source"),
        )
        # The le values as the library's own Histogram writes them ("1.0", "+Inf"), which is
        # also the form Prometheus 3 normalises classic bucket labels to.
        edges = [floatToGoString(edge) for edge in DURATION_BUCKETS]
        for labels, histogram in sorted(histograms.items()):
            buckets = list(zip(edges, histogram[: len(DURATION_BUCKETS)], strict=True))
            buckets.append(("+Inf", histogram[-2]))
            durations.add_metric(labels, buckets, sum_value=histogram[-1])
        yield durations

        media = dict.fromkeys(MediaKind.values, 0)
        for row in StoredMedia.objects.order_by().values("kind").annotate(size=Sum("size_bytes")):
            media[row["kind"]] = row["size"] or 0
        media_bytes = GaugeMetricFamily(
            "photochanger_media_bytes",
            "Bytes in storage now, by kind of media.",
            labels=("kind",),
        )
        for kind, size in sorted(media.items()):
            media_bytes.add_metric((kind,), size)
        yield media_bytes

        # Pending jobs across every process: the partial index on pending jobs answers this.
        in_flight = dict.fromkeys(JobSource.values, 0)
        pending = Job.objects.filter(status=JobStatus.PENDING).order_by().values("source")
        for row in pending.annotate(jobs=Count("pk")):
            in_flight[row["source"]] = row["jobs"]
        jobs_in_flight = GaugeMetricFamily(
            "photochanger_jobs_in_flight",
            "Jobs waiting for their answer now, across every worker process, by source.",
            labels=("source",),
        )
        for source, count in sorted(in_flight.items()):
            jobs_in_flight.add_metric((source,), count)
        yield jobs_in_flight

        yield from _paid_calls_today()


def _paid_calls_today() -> Iterator[Metric]:
    """Today's paid calls and estimated cost (ingest.costs): gauges, since they restart at 0
    every day."""
    rows = paid_calls_today(settings=settings_get())
    calls = GaugeMetricFamily(
        "photochanger_paid_calls_today",
        "Paid provider calls that gave an image today (server time zone), by slot and provider.",
        labels=("slot", "provider"),
    )
    cost = GaugeMetricFamily(
        "photochanger_estimated_cost_today",
        "Today's paid calls times the provider's price per call (settings), by slot and provider.",
        labels=("slot", "provider"),
    )
    for row in rows:
        calls.add_metric((row.slot_id, row.provider), row.calls)
        cost.add_metric((row.slot_id, row.provider), float(row.cost))
    yield calls
    yield cost


def _finished_job_rows() -> list[dict[str, object]]:
    """One row per slot, source, status and failure reason, with the histogram's cumulative
    bucket counts: a single scan of the jobs."""
    timed = Q(duration_ms__isnull=False)
    buckets = {
        f"le_{index}": Count("pk", filter=timed & Q(duration_ms__lte=round(edge * 1000)))
        for index, edge in enumerate(DURATION_BUCKETS)
    }
    return list(
        Job.objects.exclude(status=JobStatus.PENDING)
        .order_by()
        .values("slot_id", "source", "status", "failure_reason")
        .annotate(
            jobs=Count("pk"),
            timed=Count("duration_ms"),
            duration_ms_sum=Sum("duration_ms"),
            **buckets,
        )
    )


# Without describe() and with auto_describe off (the default), registering runs no query: the
# database is first read at the first scrape, not when the URLconf imports this module.
_registry = CollectorRegistry()
_registry.register(DatabaseCollector())
