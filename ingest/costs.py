"""Paid provider calls: counted per day, slot and provider, capped per slot and for the whole
event, priced for the stats' estimate.

A paid call is a call of a provider that needs an API key (Gemini, OpenAI, Turbotext) that gave
an image: what the providers bill. The day is the server's (TIME_ZONE), as the stats' "today".
A step of the failover chain whose provider is paid is skipped once a cap is reached, so the
slot answers with its chain's first free step (the local provider) or its on-failure answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from ingest.models import PaidCalls
from slots.models import GlobalSettings, Slot


def paid_cap_reached(*, slot: Slot, settings: GlobalSettings) -> str:
    """Why no paid call may be made for ``slot`` today (its cap or the event's); empty when
    one may."""
    today = PaidCalls.objects.filter(day=timezone.localdate())
    if slot.daily_paid_calls_cap is not None:
        made = today.filter(slot_id=slot.pk).aggregate(total=Sum("calls"))["total"] or 0
        if made >= slot.daily_paid_calls_cap:
            return f"the slot's cap of {slot.daily_paid_calls_cap} paid calls today is reached"
    if settings.daily_paid_calls_cap is not None:
        made = today.aggregate(total=Sum("calls"))["total"] or 0
        if made >= settings.daily_paid_calls_cap:
            return f"the event's cap of {settings.daily_paid_calls_cap} paid calls today is reached"
    return ""


def paid_call_count(*, slot_id: str, provider: str) -> None:
    """Count one paid call of ``provider`` for ``slot_id`` today."""
    day = timezone.localdate()
    counted = PaidCalls.objects.filter(day=day, slot_id=slot_id, provider=provider)
    if counted.update(calls=F("calls") + 1):
        return
    try:
        with transaction.atomic():
            PaidCalls.objects.create(day=day, slot_id=slot_id, provider=provider, calls=1)
    except IntegrityError:  # another process made today's row first
        counted.update(calls=F("calls") + 1)


def call_price(settings: GlobalSettings, provider: str) -> Decimal:
    return getattr(settings, f"{provider}_call_price", None) or Decimal(0)


@dataclass(frozen=True)
class PaidCallsRow:
    slot_id: str
    provider: str
    calls: int
    cost: Decimal


def paid_calls_today(*, settings: GlobalSettings) -> list[PaidCallsRow]:
    """Today's paid calls and their estimated cost, per slot and provider."""
    rows = PaidCalls.objects.filter(day=timezone.localdate()).order_by("slot_id", "provider")
    return [
        PaidCallsRow(
            slot_id=row.slot_id,
            provider=row.provider,
            calls=row.calls,
            cost=row.calls * call_price(settings, row.provider),
        )
        for row in rows
    ]
