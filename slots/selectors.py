"""Reads of slots and settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings as django_settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from photochanger.encryption import secret_decrypt
from photochanger.errors import SlotNotFound, TemplateImageNotFound
from providers.registry import provider_for
from slots.keys import API_KEY_FIELDS, ApiKeyOverview, api_keys_overview
from slots.models import GlobalSettings, Provider, Slot, TemplateImage
from slots.services import settings_get

SLOT_ID = re.compile(r"slot-\d{3}")


def slot_get(*, slot_id: str) -> Slot | None:
    """The slot, or None for an unknown id."""
    if not SLOT_ID.fullmatch(slot_id):
        return None  # never sent to the database: PostgreSQL refuses NUL bytes in text
    try:
        return Slot.objects.get(pk=slot_id)
    except Slot.DoesNotExist:
        return None


def slot_ids() -> list[str]:
    """Every slot's id, in order."""
    return list(Slot.objects.order_by("id").values_list("id", flat=True))


def slot_require(*, slot_id: str) -> Slot:
    """The slot; SlotNotFound for an unknown id."""
    slot = slot_get(slot_id=slot_id)
    if slot is None:
        raise SlotNotFound()
    return slot


def today_started_at() -> datetime:
    """Midnight at the start of today, in the server's time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


# A job's final statuses as the jobs table stores them (ingest.models.JobStatus): this app
# reads its slots' jobs through the relation, and knows nothing else of the ingest app.
FINAL_STATUSES = ("done", "failed", "timeout")


def slots_counting_jobs_today(slots: QuerySet[Slot]) -> QuerySet[Slot]:
    """The slots, each with today's jobs counted in the same query: ``jobs_total`` and, by
    final status, ``jobs_done``, ``jobs_failed``, ``jobs_timeout``."""
    today = Q(jobs__started_at__gte=today_started_at())
    return slots.annotate(
        jobs_total=Count("jobs", filter=today),
        **{
            f"jobs_{status}": Count("jobs", filter=today & Q(jobs__status=status))
            for status in FINAL_STATUSES
        },
    )


def slots_overview() -> list[Slot]:
    """All slots in id order as staff see them: with their template images, who saved them
    last, and today's job counts, in two queries whatever the count."""
    return list(slots_counting_jobs_today(_slots_with_details()))


def slot_overview(*, slot_id: str) -> Slot:
    """One slot as in slots_overview; SlotNotFound for an unknown id."""
    slot = slots_counting_jobs_today(_slots_with_details()).filter(pk=slot_id).first()
    if slot is None:
        raise SlotNotFound()
    return slot


def _slots_with_details() -> QuerySet[Slot]:
    return (
        Slot.objects.select_related("updated_by").prefetch_related("template_images").order_by("id")
    )


def template_image_get(*, slot_id: str, image_id: int) -> TemplateImage:
    """A slot's template image; SlotNotFound or TemplateImageNotFound when either is unknown."""
    image = TemplateImage.objects.filter(slot_id=slot_id, pk=image_id).first()
    if image is None:
        slot_require(slot_id=slot_id)
        raise TemplateImageNotFound()
    return image


def template_image_names(names: list[str]) -> set[str]:
    """Which of these storage names are template images (files cleanup_media must keep)."""
    rows = TemplateImage.objects.filter(storage_name__in=names)
    return set(rows.values_list("storage_name", flat=True))


@dataclass(frozen=True)
class IngestPasswordState:
    set: bool
    set_at: datetime | None
    set_by: str | None


@dataclass(frozen=True)
class ProviderKeyState:
    configured: bool
    configured_since: datetime | None
    source: str | None  # "settings", "environment" or None
    # The address the provider's calls (and this key) go to, from the server's environment.
    base_url: str
    # A key staff set that can no longer be decrypted (the installation's SECRET_KEY changed).
    unreadable: bool = False


@dataclass(frozen=True)
class SettingsOverview:
    """The global settings as staff may see them: whether secrets are set, never the secrets."""

    sync_response_seconds: int
    result_ttl_hours: int
    max_concurrent_jobs: int
    public_base_url: str
    strict_upload_hash: bool
    repeat_window_seconds: int
    gemini_call_price: Decimal
    openai_call_price: Decimal
    turbotext_call_price: Decimal
    daily_paid_calls_cap: int | None
    ingest_password: IngestPasswordState
    provider_keys: dict[str, ProviderKeyState]
    api_keys: list[ApiKeyOverview]


def settings_overview() -> SettingsOverview:
    """The global settings, with the ingest password and provider keys reduced to whether and
    since when they are set. A key staff set wins over one from the environment, as in
    provider_api_key."""
    row = settings_get()
    return SettingsOverview(
        sync_response_seconds=row.sync_response_seconds,
        result_ttl_hours=row.result_ttl_hours,
        max_concurrent_jobs=row.max_concurrent_jobs,
        public_base_url=row.public_base_url,
        strict_upload_hash=row.strict_upload_hash,
        repeat_window_seconds=row.repeat_window_seconds,
        gemini_call_price=row.gemini_call_price,
        openai_call_price=row.openai_call_price,
        turbotext_call_price=row.turbotext_call_price,
        daily_paid_calls_cap=row.daily_paid_calls_cap,
        ingest_password=IngestPasswordState(
            set=bool(row.ingest_password_hash),
            set_at=row.ingest_password_set_at,
            set_by=row.ingest_password_set_by or None,
        ),
        provider_keys={
            provider: _provider_key_state(row, provider, field)
            for provider, field in API_KEY_FIELDS.items()
        },
        api_keys=api_keys_overview(settings=row),
    )


def _provider_key_state(row: GlobalSettings, provider: str, field: str) -> ProviderKeyState:
    base_url = django_settings.PROVIDER_BASE_URLS[provider]
    stored = getattr(row, field)
    unreadable = bool(stored) and secret_decrypt(stored) is None
    if stored and not unreadable:
        return ProviderKeyState(True, getattr(row, f"{field}_set_at"), "settings", base_url)
    if django_settings.PROVIDER_API_KEYS.get(provider):
        return ProviderKeyState(True, None, "environment", base_url, unreadable)
    return ProviderKeyState(False, None, None, base_url, unreadable)


def provider_operations() -> dict[str, tuple[str, ...]]:
    """Each provider's operations, for the hints staff see beside a slot's operation."""
    return {provider: provider_for(provider).operations for provider in Provider.values}
