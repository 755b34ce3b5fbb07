"""The staff API for statistics: /api/stats/…"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from ingest.services import refused_address_release
from photochanger.auth import staff_auth, staff_with
from photochanger.models import BoothRequest
from photochanger.throttle import RefusedClient
from stats.selectors import (
    MAX_WINDOW_MINUTES,
    MIN_WINDOW_MINUTES,
    Overview,
    PaidCallsOverview,
    RecentFailure,
    SlotsOverview,
    booth_requests,
    paid_calls_overview,
    refused_addresses,
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
    source: Literal["ingest", "test_run", "all"] = Field(
        "ingest",
        description="The booth's jobs (the default: test runs are no part of the event), "
        "only test runs, or all jobs.",
    )

    @property
    def job_source(self) -> str | None:
        return None if self.source == "all" else self.source


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
    failure_details: str = Field(description="What went wrong, in the server's words.")
    job_url: str = Field(description="The job's page in the admin.")
    http_status: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None

    @staticmethod
    def resolve_job_url(failure: RecentFailure) -> str:
        return reverse("admin:ingest_job_change", args=[failure.job_id])


class OverviewOut(Schema):
    window: WindowOut
    totals: FiguresOut
    storage_now: StorageOut = Field(description="Every byte in storage now, whatever the window.")
    series: list[BucketOut]
    recent_failures: list[FailureOut] = Field(description="The latest 20, newest first.")
    test_runs: FiguresOut = Field(
        description="The window's test runs, whatever the source asked: never in the totals."
    )
    recent_test_run_failures: list[FailureOut] = Field(
        description="The latest 10 failed test runs, newest first."
    )


class SlotStatsOut(FiguresOut):
    slot_id: str
    display_name: str
    provider: str
    is_active: bool
    window_storage: StorageOut = Field(
        description="Bytes the slot's jobs of the window still hold in storage."
    )
    served_by_step: list[int] = Field(
        description="Done jobs by who served the guest: the slot's own provider, its first "
        "failover slot, its second."
    )


class SlotsOut(Schema):
    window: WindowOut
    slots: list[SlotStatsOut]


@router.get(
    "/stats/overview",
    auth=staff_with("stats.view_statistics"),
    response=OverviewOut,
    url_name="stats_overview",
    summary="Totals, counts over time and recent failures",
)
def overview(request: HttpRequest, query: Query[WindowQuery]) -> Overview:
    return stats_overview(window_minutes=query.window_minutes, source=query.job_source)


@router.get(
    "/stats/slots",
    auth=staff_with("stats.view_statistics"),
    response=SlotsOut,
    url_name="stats_slots",
    summary="Figures per slot",
)
def slots(request: HttpRequest, query: Query[WindowQuery]) -> SlotsOverview:
    return stats_slots(window_minutes=query.window_minutes, source=query.job_source)


class RefusedAddressOut(Schema):
    address: str
    failures: int = Field(description="Wrong passwords since `since` (its hour).")
    last_slot_id: str = Field(description="The slot its last wrong password was sent to.")
    last_reason: str = Field(
        description="wrong_password, or old_password: the one from before the last change."
    )
    since: datetime = Field(description="Its first wrong password of the hour.")
    last_failure_at: datetime
    blocked_until: datetime | None = Field(description="Refused (429) until then; null if not.")

    @staticmethod
    def resolve_address(refused: RefusedClient) -> str:
        return refused.client

    @staticmethod
    def resolve_last_slot_id(refused: RefusedClient) -> str:
        return refused.last_tried


class RefusedAddressesOut(Schema):
    addresses: list[RefusedAddressOut]


@router.get(
    "/stats/refused-addresses",
    auth=staff_with("ingest.view_job"),
    response=RefusedAddressesOut,
    url_name="stats_refused_addresses",
    summary="Addresses sending wrong ingest passwords",
    description="Every address with wrong ingest passwords in its current hour, those refused "
    "now first. 10 wrong in a row refuse an address for 30 s; 100 in its hour refuse it until "
    "the hour ends.",
)
def refused_addresses_list(request: HttpRequest) -> dict[str, list[RefusedClient]]:
    return {"addresses": refused_addresses()}


@router.delete(
    "/stats/refused-addresses/{address}",
    auth=staff_with("slots.change_globalsettings"),
    response={204: None},
    url_name="stats_refused_address_release",
    summary="Release a refused address",
    description="Forgets its wrong passwords and lifts its block at once; 204 whether it was "
    "known or not.",
)
def refused_address_forget(request: HttpRequest, address: str) -> Status[None]:
    refused_address_release(address=address)
    return Status(204, None)


class PaidCallsRowOut(Schema):
    slot_id: str
    provider: str
    calls: int
    cost: Decimal = Field(description="calls times the provider's price per call (settings)")


class PaidCallsOut(Schema):
    day: date = Field(description="Today, in the server's time zone.")
    rows: list[PaidCallsRowOut] = Field(description="Per slot (the booth's) and provider.")
    total_calls: int
    total_cost: Decimal
    daily_paid_calls_cap: int | None = Field(description="The event's cap; null: none.")
    slot_caps: dict[str, int] = Field(description="The slots' own caps, by slot id.")


@router.get(
    "/stats/paid-calls",
    auth=staff_with("stats.view_statistics"),
    response=PaidCallsOut,
    url_name="stats_paid_calls",
    summary="Paid provider calls and their estimated cost today",
    description="Calls of Gemini, OpenAI and Turbotext that gave an image today, per slot and "
    "provider, priced by the settings' price per call; and the daily caps.",
)
def paid_calls(request: HttpRequest) -> PaidCallsOverview:
    return paid_calls_overview()


class BoothRequestOut(Schema):
    at: datetime = Field(description="When; for folded refusals, the start of their minute.")
    last_at: datetime
    count: int = Field(description="Identical refusals of one address and minute, folded.")
    client: str
    user_agent: str
    slot_sent: str = Field(description="The slot id in the URL, as the booth sent it.")
    status: int
    reason: str = Field(
        description="The failure_reason of a refusal; original or repeat for those 200s."
    )
    bytes: int | None = Field(description="The request's Content-Length.")
    job_id: uuid.UUID | None


class BoothRequestsQuery(Schema):
    slot: str = Field("", description="One slot id as sent; empty: all.")
    client: str = Field("", description="One client address; empty: all.")
    outcome: Literal["all", "refused", "answered"] = "all"
    limit: int = Field(100, ge=1, le=500)


@router.get(
    "/stats/requests",
    auth=staff_with("stats.view_statistics"),
    response=list[BoothRequestOut],
    url_name="stats_requests",
    summary="The log of booth requests, refused ones included",
    description="Every request to /api/ingest/, newest first, with the client, user agent, "
    "slot as sent, status, reason, bytes and job; never the password or the photo. Identical "
    "refusals without a job are folded per address and minute (count). Written a second or so "
    "after each answer; kept for the result TTL.",
)
def requests_log(request: HttpRequest, query: Query[BoothRequestsQuery]) -> list[BoothRequest]:
    return booth_requests(
        slot_sent=query.slot, client=query.client, outcome=query.outcome, limit=query.limit
    )
