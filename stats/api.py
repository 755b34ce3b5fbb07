"""The staff API for statistics: /api/stats/…"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from photochanger.auth import staff_auth
from stats.selectors import (
    MAX_WINDOW_MINUTES,
    MIN_WINDOW_MINUTES,
    Overview,
    SlotsOverview,
    stats_overview,
    stats_slots,
)

router = Router(tags=["stats"], auth=staff_auth)


class WindowQuery(Schema):
    window_minutes: int = Field(
        60,
        ge=MIN_WINDOW_MINUTES,
        le=MAX_WINDOW_MINUTES,
        description="The window, ending now: 5 minutes to 3 days.",
    )
    source: Literal["ingest", "test_run"] | None = Field(
        None, description="Only booth jobs or only test runs; both when absent."
    )


class WindowOut(Schema):
    minutes: int
    since: datetime
    until: datetime
    bucket_seconds: int = Field(description="The length of each bucket of the series.")


class FiguresOut(Schema):
    jobs: int = Field(description="Jobs started in the window, finished or not.")
    done: int
    failed: int = Field(description="Failed jobs, the 429s included.")
    timeouts: int
    rate_limited: int = Field(description="Jobs refused with 429 (capacity reached).")
    in_flight: int = Field(description="Jobs still pending.")
    success_rate: float | None = Field(description="done / finished; null with none finished.")
    p50_ms: float | None = Field(description="Median time to the booth's answer.")
    p95_ms: float | None
    failures_by_reason: dict[str, int] = Field(description="Failed jobs by failure_reason.")


class StorageOut(Schema):
    total_bytes: int
    by_kind: dict[str, int]


class BucketOut(FiguresOut):
    start: datetime


class FailureOut(Schema):
    job_id: str
    slot_id: str
    source: str
    status: str
    failure_reason: str
    http_status: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class OverviewOut(Schema):
    window: WindowOut
    totals: FiguresOut
    storage_now: StorageOut = Field(description="Every byte in storage now, whatever the window.")
    series: list[BucketOut]
    recent_failures: list[FailureOut] = Field(description="The latest 20, newest first.")


class SlotStatsOut(FiguresOut):
    slot_id: str
    display_name: str
    provider: str
    is_active: bool
    window_storage: StorageOut = Field(
        description="Bytes the slot's jobs of the window still hold in storage."
    )


class SlotsOut(Schema):
    window: WindowOut
    slots: list[SlotStatsOut]


@router.get(
    "/stats/overview",
    response=OverviewOut,
    url_name="stats_overview",
    summary="Totals, counts over time and recent failures",
)
def overview(request: HttpRequest, query: Query[WindowQuery]) -> Overview:
    return stats_overview(window_minutes=query.window_minutes, source=query.source)


@router.get("/stats/slots", response=SlotsOut, url_name="stats_slots", summary="Figures per slot")
def slots(request: HttpRequest, query: Query[WindowQuery]) -> SlotsOverview:
    return stats_slots(window_minutes=query.window_minutes, source=query.source)
