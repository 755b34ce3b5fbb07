"""Statistics over the jobs of a time window, in total, per slot and over time.

Every figure is computed by the database in grouped queries with conditional aggregation; Python
only merges the grouped rows. Percentiles are ``percentile_cont`` semantics (linear
interpolation between the two nearest values) on both backends: PostgreSQL's own aggregate, and
on SQLite the same formula over ``ROW_NUMBER()`` / ``COUNT()`` window functions.

Definitions (what the stats page and the API show):

* a job counts in the window when it *started* in it; ``jobs = done + failed + timeouts +
  in_flight`` (in flight: still pending);
* the figures are of the booth's jobs unless asked otherwise (``source``): staff's test runs are
  no part of the event, and the overview shows them apart (``test_runs``,
  ``recent_test_run_failures``);
* ``rate_limited`` (the 429s) are failed jobs with ``failure_reason = rate_limited``; they are
  also in ``failed`` and in ``failures_by_reason``;
* ``success_rate`` = done / finished jobs (None with no finished job); a job answered with the
  guest's original photo after a failure is a failure;
* p50 / p95 are of ``duration_ms`` over finished jobs: how long the booth waited for its answer;
* the overview's ``storage_now`` is every byte in storage now, by kind of media; a slot's
  ``window_storage`` is what its jobs of the window still hold in storage (results, thumbnails,
  provider media). Storage now per slot would join every file to its job, a scan of all jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from ingest.costs import PaidCallsRow, paid_calls_today
from ingest.models import Job, JobSource, JobStatus
from ingest.services import wrong_passwords
from media.models import MediaKind, StoredMedia
from photochanger.models import BoothRequest
from photochanger.throttle import RefusedClient
from slots.models import GlobalSettings, Slot
from slots.services import settings_get
from stats.expressions import BucketStart, Percentile
from stats.models import GallerySharing
from stats.services import GALLERY_SNAPSHOT_KEY

MIN_WINDOW_MINUTES = 5
MAX_WINDOW_MINUTES = 3 * 24 * 60
RECENT_FAILURES = 20
RECENT_TEST_RUN_FAILURES = 10
RATE_LIMITED = "rate_limited"
_FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.TIMEOUT)
_PERCENTILES = {"p50_ms": 0.5, "p95_ms": 0.95}


@dataclass(frozen=True)
class JobFigures:
    jobs: int = 0
    done: int = 0
    failed: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    in_flight: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    failures_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.timeouts

    @property
    def success_rate(self) -> float | None:
        return round(self.done / self.finished, 4) if self.finished else None


@dataclass(frozen=True)
class StorageFigures:
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MediaKind.values, 0))

    @property
    def total_bytes(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True, kw_only=True)
class Bucket(JobFigures):
    start: datetime


@dataclass(frozen=True)
class RecentFailure:
    job_id: str
    slot_id: str
    source: str
    status: str
    failure_reason: str
    failure_details: str
    http_status: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


@dataclass(frozen=True)
class StatsWindow:
    minutes: int
    since: datetime
    until: datetime
    bucket_seconds: int


@dataclass(frozen=True)
class Overview:
    window: StatsWindow
    totals: JobFigures
    storage_now: StorageFigures
    series: list[Bucket]
    recent_failures: list[RecentFailure]
    test_runs: JobFigures
    recent_test_run_failures: list[RecentFailure]


@dataclass(frozen=True, kw_only=True)
class SlotStats(JobFigures):
    slot_id: str
    display_name: str
    provider: str
    is_active: bool
    window_storage: StorageFigures
    # Done jobs by the step of the failover chain that served them: own provider, 1st, 2nd.
    served_by_step: list[int]


@dataclass(frozen=True)
class SlotsOverview:
    window: StatsWindow
    slots: list[SlotStats]


def bucket_seconds(window_minutes: int) -> int:
    """Buckets small enough to show a burst, few enough (≤ 72) to draw."""
    if window_minutes <= 60:
        return 60
    if window_minutes <= 6 * 60:
        return 5 * 60
    if window_minutes <= 24 * 60:
        return 15 * 60
    return 60 * 60


def stats_window(*, window_minutes: int, now: datetime | None = None) -> StatsWindow:
    if not MIN_WINDOW_MINUTES <= window_minutes <= MAX_WINDOW_MINUTES:
        raise ValueError(f"window_minutes must be {MIN_WINDOW_MINUTES} to {MAX_WINDOW_MINUTES}")
    until = now or timezone.now()
    return StatsWindow(
        minutes=window_minutes,
        since=until - timedelta(minutes=window_minutes),
        until=until,
        bucket_seconds=bucket_seconds(window_minutes),
    )


def stats_overview(
    *, window_minutes: int, now: datetime | None = None, source: str | None = JobSource.INGEST
) -> Overview:
    """Totals, storage, counts over time and the latest failures for the window, of the booth's
    jobs (``source``; None for every job); and the window's test runs, apart."""
    window = stats_window(window_minutes=window_minutes, now=now)
    jobs = _window_jobs(window, source)
    test_runs = _window_jobs(window, JobSource.TEST_RUN)
    totals = _figures_by(jobs, key=None).get(None, JobFigures())
    by_bucket = _figures_by(
        jobs.annotate(bucket=BucketStart("started_at", seconds=window.bucket_seconds)),
        key="bucket",
        with_reasons=False,
    )
    return Overview(
        window=window,
        totals=totals,
        storage_now=_storage_by(StoredMedia.objects.all(), key=None).get(None, StorageFigures()),
        series=_series(window, by_bucket),
        recent_failures=_recent_failures(jobs, limit=RECENT_FAILURES),
        test_runs=_figures_by(test_runs, key=None).get(None, JobFigures()),
        recent_test_run_failures=_recent_failures(test_runs, limit=RECENT_TEST_RUN_FAILURES),
    )


def stats_slots(
    *, window_minutes: int, now: datetime | None = None, source: str | None = JobSource.INGEST
) -> SlotsOverview:
    """Every slot's figures for the window (slots without jobs included, with zeros), of the
    booth's jobs (``source``; None for every job)."""
    window = stats_window(window_minutes=window_minutes, now=now)
    by_slot = _figures_by(_window_jobs(window, source), key="slot_id")
    window_storage = _storage_by(_window_media(window, source), key="job__slot_id")
    served = _served_by_step(_window_jobs(window, source))
    slots = [
        SlotStats(
            slot_id=slot.id,
            display_name=slot.display_name,
            provider=slot.provider,
            is_active=slot.is_active,
            window_storage=window_storage.get(slot.id, StorageFigures()),
            served_by_step=served.get(slot.id, [0, 0, 0]),
            **_fields(by_slot.get(slot.id, JobFigures())),
        )
        for slot in Slot.objects.only("id", "display_name", "provider", "is_active")
    ]
    return SlotsOverview(window=window, slots=slots)


def _served_by_step(jobs: QuerySet[Job]) -> dict[str, list[int]]:
    """Per slot, its done jobs served by its own provider and by each failover step."""
    served: dict[str, list[int]] = {}
    rows = (
        # A re-send answered with an earlier job's result was served by that job.
        jobs.filter(status=JobStatus.DONE, repeat_of__isnull=True)
        .values("slot_id", "served_step")
        .annotate(count=Count("status"))
    )
    for row in rows:
        # Jobs from before the failover chain have no step: their own provider served them.
        step = row["served_step"] or 0
        if step < 3:
            served.setdefault(row["slot_id"], [0, 0, 0])[step] += row["count"]
    return served


def _window_jobs(window: StatsWindow, source: str | None) -> QuerySet[Job]:
    # Half-open [since, until): a job is in exactly one of two adjacent windows.
    jobs = Job.objects.filter(started_at__gte=window.since, started_at__lt=window.until)
    if source is not None:
        jobs = jobs.filter(source=source)
    return jobs.order_by()


def _figures_by(
    jobs: QuerySet[Job], *, key: str | None, with_reasons: bool = True
) -> dict[object, JobFigures]:
    """JobFigures per value of ``key`` (one group, under None, when key is None)."""
    # Counting status (never null, and read by the filters anyway) rather than the id:
    # PostgreSQL sorts the rows by group first (percentiles need a sort-based plan), and rows
    # without their 16-byte id more often sort in memory.
    counts = {
        "jobs": Count("status"),
        "done": Count("status", filter=Q(status=JobStatus.DONE)),
        "failed": Count("status", filter=Q(status=JobStatus.FAILED)),
        "timeouts": Count("status", filter=Q(status=JobStatus.TIMEOUT)),
        "rate_limited": Count(
            "status", filter=Q(status=JobStatus.FAILED, failure_reason=RATE_LIMITED)
        ),
        "in_flight": Count("status", filter=Q(status=JobStatus.PENDING)),
    }
    on_postgresql = connection.vendor == "postgresql"
    if on_postgresql:
        timed = Q(status__in=_FINISHED, duration_ms__isnull=False)
        counts |= {
            name: Percentile("duration_ms", fraction, filter=timed)
            for name, fraction in _PERCENTILES.items()
        }
    if key is None:
        rows = [{"key": None, **jobs.aggregate(**counts)}]
    else:
        rows = [{**row, "key": row[key]} for row in jobs.values(key).annotate(**counts)]
    if not on_postgresql:
        percentiles = _sqlite_percentiles(jobs, key=key)
        rows = [{**row, **percentiles.get(row["key"], {})} for row in rows]
    reasons = _failures_by_reason(jobs, key=key) if with_reasons else {}
    return {
        row["key"]: JobFigures(
            jobs=row["jobs"],
            done=row["done"],
            failed=row["failed"],
            timeouts=row["timeouts"],
            rate_limited=row["rate_limited"],
            in_flight=row["in_flight"],
            p50_ms=_rounded(row.get("p50_ms")),
            p95_ms=_rounded(row.get("p95_ms")),
            failures_by_reason=reasons.get(row["key"], {}),
        )
        for row in rows
        if row["jobs"]
    }


def _failures_by_reason(jobs: QuerySet[Job], *, key: str | None) -> dict[object, dict[str, int]]:
    group = [key] if key else []
    rows = (
        jobs.filter(status=JobStatus.FAILED)
        .values(*group, "failure_reason")
        .annotate(count=Count("status"))
        .order_by("-count", "failure_reason")
    )
    reasons: dict[object, dict[str, int]] = {}
    for row in rows:
        reasons.setdefault(row[key] if key else None, {})[row["failure_reason"] or "unknown"] = row[
            "count"
        ]
    return reasons


def _sqlite_percentiles(jobs: QuerySet[Job], *, key: str | None) -> dict[object, dict[str, float]]:
    """percentile_cont over window functions, for SQLite: in each group the finished jobs are
    numbered by duration (i = 0 … n-1); the p-th percentile sits at position p·(n-1), between
    the values numbered floor and floor + 1."""
    timed = jobs.filter(status__in=_FINISHED, duration_ms__isnull=False)
    timed = timed.values(key, "duration_ms") if key else timed.values("duration_ms")
    base_sql, params = timed.query.sql_with_params()
    group = key or "NULL"
    partition = f"PARTITION BY {key}" if key else ""
    # Our own constants and field names only: nothing from a request reaches this SQL text.
    columns = []
    outer = []
    for name, fraction in _PERCENTILES.items():
        position = f"{fraction!r} * (n - 1)"
        lower = f"CAST({position} AS INTEGER)"
        columns.append(
            f"MAX(CASE WHEN i = {lower} THEN d END) AS {name}_lo, "
            f"MAX(CASE WHEN i = {lower} + 1 THEN d END) AS {name}_hi, "
            f"MAX({position} - {lower}) AS {name}_frac"
        )
        outer.append(
            f"{name}_lo + {name}_frac * (COALESCE({name}_hi, {name}_lo) - {name}_lo) AS {name}"
        )
    sql = f"""
        WITH ranked AS (
            SELECT {group} AS k, duration_ms AS d,
                   ROW_NUMBER() OVER ({partition} ORDER BY duration_ms) - 1 AS i,
                   COUNT(*) OVER ({partition}) AS n
            FROM ({base_sql}) AS timed
        ),
        picked AS (SELECT k, {", ".join(columns)} FROM ranked GROUP BY k)
        SELECT k, {", ".join(outer)} FROM picked
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    by_key = {}
    for row in rows:
        values = dict(zip(names, row, strict=True))
        group_key = values.pop("k")
        if key == "bucket" and group_key is not None:
            group_key = _sqlite_datetime(group_key)
        by_key[group_key] = values
    return by_key


def _sqlite_datetime(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _series(window: StatsWindow, by_bucket: dict[object, JobFigures]) -> list[Bucket]:
    """Every bucket of the window in order, empty ones included (so charts keep their time
    axis)."""
    step = window.bucket_seconds
    first = int(window.since.timestamp()) // step * step
    last = int(window.until.timestamp() - 1e-6) // step * step
    found = {_as_utc(start): figures for start, figures in by_bucket.items()}
    starts = (datetime.fromtimestamp(moment, tz=UTC) for moment in range(first, last + 1, step))
    return [Bucket(start=start, **_fields(found.get(start, JobFigures()))) for start in starts]


def _fields(figures: JobFigures) -> dict[str, object]:
    return {item.name: getattr(figures, item.name) for item in fields(JobFigures)}


def _as_utc(value: object) -> datetime:
    moment = _sqlite_datetime(value) if isinstance(value, str) else value
    return moment.astimezone(UTC)


def _window_media(window: StatsWindow, source: str | None) -> QuerySet[StoredMedia]:
    """The files the window's jobs still hold (results, thumbnails, provider media)."""
    media = StoredMedia.objects.filter(
        job__started_at__gte=window.since, job__started_at__lt=window.until
    )
    return media.filter(job__source=source) if source is not None else media


def _storage_by(media: QuerySet[StoredMedia], *, key: str | None) -> dict[object, StorageFigures]:
    """Bytes of ``media`` by kind, per value of ``key``."""
    group = [key] if key else []
    rows = media.order_by().values(*group, "kind").annotate(size=Sum("size_bytes"))
    storage: dict[object, StorageFigures] = {}
    for row in rows:
        figures = storage.setdefault(row[key] if key else None, StorageFigures())
        figures.by_kind[row["kind"]] = row["size"] or 0
    return storage


def _recent_failures(jobs: QuerySet[Job], *, limit: int) -> list[RecentFailure]:
    rows = jobs.filter(status__in=(JobStatus.FAILED, JobStatus.TIMEOUT)).order_by("-started_at")[
        :limit
    ]
    return [
        RecentFailure(
            job_id=str(job.pk),
            slot_id=job.slot_id,
            source=job.source,
            status=job.status,
            failure_reason=job.failure_reason,
            failure_details=job.failure_details,
            http_status=job.http_status,
            started_at=job.started_at,
            finished_at=job.finished_at,
            duration_ms=job.duration_ms,
        )
        for job in rows.only(
            "id",
            "slot_id",
            "source",
            "status",
            "failure_reason",
            "failure_details",
            "http_status",
            "started_at",
            "finished_at",
            "duration_ms",
        )
    ]


def refused_addresses() -> list[RefusedClient]:
    """Addresses with wrong ingest passwords in their current hour, the blocked ones first."""
    return wrong_passwords().refused()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# The public gallery ------------------------------------------------------------------------

GALLERY_RESULTS_PER_SLOT = 6
# A crowd of phones polling the gallery costs one query set per process per this many seconds.
GALLERY_CACHE_SECONDS = 5


@dataclass(frozen=True)
class GalleryResult:
    job_id: str
    finished_at: datetime


@dataclass(frozen=True)
class GallerySlot:
    slot_id: str
    display_name: str
    results: list[GalleryResult]


@dataclass(frozen=True)
class GallerySnapshot:
    shared_until: datetime | None
    slots: list[GallerySlot]

    @property
    def job_ids(self) -> frozenset[str]:
        return frozenset(result.job_id for slot in self.slots for result in slot.results)


def gallery_shared_until() -> datetime | None:
    """When sharing ends, or None when the gallery is not shared now (for the staff page)."""
    sharing = GallerySharing.objects.filter(pk=1).first()
    return sharing.shared_until if sharing is not None and sharing.is_shared else None


def gallery_snapshot(*, now: datetime | None = None) -> GallerySnapshot | None:
    """What the public gallery shows: the latest booth results of each active slot that has
    any, newest first; None when the gallery is not shared. Cached for GALLERY_CACHE_SECONDS,
    "not shared" included, so a crowd costs the database nothing more."""
    now = now or timezone.now()
    snapshot = cache.get(GALLERY_SNAPSHOT_KEY)
    if snapshot is None:
        snapshot = _gallery_snapshot_build(now)
        cache.set(GALLERY_SNAPSHOT_KEY, snapshot, timeout=GALLERY_CACHE_SECONDS)
    if snapshot.shared_until is None or snapshot.shared_until <= now:
        return None
    return snapshot


def _gallery_snapshot_build(now: datetime) -> GallerySnapshot:
    shared_until = gallery_shared_until()
    if shared_until is None:
        return GallerySnapshot(shared_until=None, slots=[])
    ttl_hours = (
        GlobalSettings.objects.filter(pk=1).values_list("result_ttl_hours", flat=True).first()
        or 720
    )
    # Results live ttl_hours from their finish: bounding started_at lets the time index do the
    # work (a result of a job that started earlier has expired, unless the TTL was lowered).
    ranked = (
        Job.objects.filter(
            status=JobStatus.DONE,
            source=JobSource.INGEST,
            slot__is_active=True,
            started_at__gte=now - timedelta(hours=ttl_hours),
            result_expires_at__gt=now,
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("slot_id")],
                order_by=[F("finished_at").desc(), F("id")],
            )
        )
        .filter(rank__lte=GALLERY_RESULTS_PER_SLOT)
        .order_by("slot_id", "rank")
        .values("id", "slot_id", "finished_at", "slot__display_name")
    )
    slots: dict[str, GallerySlot] = {}
    for row in ranked:
        slot = slots.setdefault(
            row["slot_id"],
            GallerySlot(slot_id=row["slot_id"], display_name=row["slot__display_name"], results=[]),
        )
        slot.results.append(GalleryResult(job_id=str(row["id"]), finished_at=row["finished_at"]))
    return GallerySnapshot(shared_until=shared_until, slots=list(slots.values()))


@dataclass(frozen=True)
class PaidCallsOverview:
    """Today's paid provider calls and their estimated cost (ingest.costs), with the caps."""

    day: date
    rows: list[PaidCallsRow]
    total_calls: int
    total_cost: Decimal
    daily_paid_calls_cap: int | None
    slot_caps: dict[str, int]


def paid_calls_overview() -> PaidCallsOverview:
    settings = settings_get()
    rows = paid_calls_today(settings=settings)
    return PaidCallsOverview(
        day=timezone.localdate(),
        rows=rows,
        total_calls=sum(row.calls for row in rows),
        total_cost=sum((row.cost for row in rows), Decimal(0)),
        daily_paid_calls_cap=settings.daily_paid_calls_cap,
        slot_caps=dict(
            Slot.objects.filter(daily_paid_calls_cap__isnull=False).values_list(
                "pk", "daily_paid_calls_cap"
            )
        ),
    )


def booth_requests(
    *, slot_sent: str = "", client: str = "", outcome: str = "all", limit: int = 100
) -> list[BoothRequest]:
    """The booth request log, newest first: all, only the refused (4xx, 5xx) or only the
    answered ones, of one slot id as sent and one client address when given."""
    rows = BoothRequest.objects.order_by("-last_at", "-pk")
    if slot_sent:
        rows = rows.filter(slot_sent=slot_sent)
    if client:
        rows = rows.filter(client=client)
    if outcome == "refused":
        rows = rows.filter(status__gte=400)
    elif outcome == "answered":
        rows = rows.filter(status__lt=400)
    return list(rows[:limit])
