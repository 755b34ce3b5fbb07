"""GET /metrics: the Prometheus text exposition format (version 0.0.4), from the database.

Every value is read from the job and media tables in grouped queries, so all worker processes
answer the same numbers whichever one Prometheus reaches; the text is kept for a few seconds in
the process so a burst of scrapes costs one set of queries.

The format is written here rather than with prometheus_client: its registry holds counters that
live in one process, while ours are read from the database at each scrape; the part we would use
is escaping and number formatting, a few lines below.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Q, Sum

from ingest.models import Job, JobStatus
from media.models import MediaKind, StoredMedia

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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
            _cached = (time.monotonic(), _render())
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


def _render() -> str:
    lines: list[str] = []
    rows = _finished_job_rows()

    jobs_total: dict[tuple[str, str, str], int] = defaultdict(int)
    histograms: dict[str, list[float]] = {}
    for row in rows:
        outcome = job_outcome(row["status"], row["failure_reason"])
        jobs_total[(row["slot_id"], row["source"], outcome)] += row["jobs"]
        # Per slot: cumulative bucket counts, then the count and the sum of timed jobs.
        histogram = histograms.setdefault(row["slot_id"], [0.0] * (len(DURATION_BUCKETS) + 2))
        for index in range(len(DURATION_BUCKETS)):
            histogram[index] += row[f"le_{index}"]
        histogram[-2] += row["timed"]
        histogram[-1] += (row["duration_ms_sum"] or 0) / 1000

    _family(
        lines,
        "photochanger_ingest_jobs_total",
        "counter",
        "Finished jobs by slot, source and outcome (done, timeout, or the failure reason).",
        (
            ({"slot": slot, "source": source, "outcome": outcome}, count)
            for (slot, source, outcome), count in sorted(jobs_total.items())
        ),
    )

    name = "photochanger_job_duration_seconds"
    lines.append(f"# HELP {name} Time from the request to the booth's answer, finished jobs.")
    lines.append(f"# TYPE {name} histogram")
    for slot, histogram in sorted(histograms.items()):
        for index, edge in enumerate(DURATION_BUCKETS):
            lines.append(_sample(f"{name}_bucket", {"slot": slot, "le": edge}, histogram[index]))
        lines.append(_sample(f"{name}_bucket", {"slot": slot, "le": math.inf}, histogram[-2]))
        lines.append(_sample(f"{name}_count", {"slot": slot}, histogram[-2]))
        lines.append(_sample(f"{name}_sum", {"slot": slot}, histogram[-1]))

    media = dict.fromkeys(MediaKind.values, 0)
    for row in StoredMedia.objects.order_by().values("kind").annotate(size=Sum("size_bytes")):
        media[row["kind"]] = row["size"] or 0
    _family(
        lines,
        "photochanger_media_bytes",
        "gauge",
        "Bytes in storage now, by kind of media.",
        (({"kind": kind}, size) for kind, size in sorted(media.items())),
    )

    # Pending jobs across every process: the partial index on pending jobs answers this.
    in_flight = Job.objects.filter(status=JobStatus.PENDING).count()
    _family(
        lines,
        "photochanger_jobs_in_flight",
        "gauge",
        "Jobs waiting for their answer now, across every worker process.",
        [({}, in_flight)],
    )
    return "\n".join(lines) + "\n"


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


def _family(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[dict[str, object], float]],
) -> None:
    lines.append(f"# HELP {name} {_escape_help(help_text)}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(_sample(name, labels, value) for labels, value in samples)


def _sample(name: str, labels: dict[str, object], value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    pairs = ",".join(f'{key}="{_escape_label(_label_value(item))}"' for key, item in labels.items())
    return f"{name}{{{pairs}}} {_number(value)}"


def _label_value(value: object) -> str:
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        if value.is_integer():
            return str(int(value)) if abs(value) < 1e15 else repr(value)
        return repr(value)
    return str(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")
