"""The staff API for slots and the global settings: /api/slots/…, /api/settings/…"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import File, Form, Router, Schema, Status, UploadedFile
from pydantic import ConfigDict, Field, StringConstraints

from media.selectors import media_file_bytes
from photochanger.auth import permissions_require, staff_auth, staff_with
from photochanger.errors import ApiKeyNotFound
from photochanger.schemas import ErrorOut
from providers.schema import provider_settings_schema
from slots.models import OnFailure, Provider, QrCorner, Slot, TemplateImage, TemplateRole
from slots.readiness import slot_missing
from slots.selectors import (
    SettingsOverview,
    settings_overview,
    slot_overview,
    slot_require,
    slots_overview,
    template_image_get,
)
from slots.services import (
    ingest_password_set,
    provider_key_add,
    provider_key_remove,
    provider_key_set,
    settings_get,
    settings_update,
    slot_changes_within_operation,
    slot_update,
    template_image_add,
    template_image_delete,
)

router = Router(tags=["slots"], auth=staff_auth)

ProviderKeyName = Literal["gemini", "turbotext", "openai"]


class TemplateImageOut(Schema):
    id: int
    role: str
    content_type: str
    size_bytes: int
    created_at: datetime
    url: str = Field(description="The image file, for staff (previews).")

    @staticmethod
    def resolve_url(image: TemplateImage, context: dict) -> str:
        path = reverse(
            "api:slot_template_image_file", kwargs={"slot_id": image.slot_id, "image_id": image.pk}
        )
        return context["request"].build_absolute_uri(path)


class JobCountsOut(Schema):
    total: int
    done: int
    failed: int
    timeout: int


class SlotOut(Schema):
    id: str
    display_name: str
    provider: str
    operation: str
    is_active: bool
    size_limit_mb: int
    settings: dict[str, Any]
    on_failure: str
    max_concurrent_jobs: int | None
    guest_qr_corner: str = Field(
        description="Where the guest page's QR code is stamped; empty: not."
    )
    guest_qr_caption: str
    failover_first: str | None = Field(
        description="The slot whose provider is tried when this one's fails; null: none."
    )
    failover_second: str | None = Field(description="The chain's last step; null: none.")
    failover_on_refusal: bool = Field(
        description="Whether a refusal for the content (safety, moderation) moves on too."
    )
    daily_paid_calls_cap: int | None = Field(
        description="Paid provider calls a day for this slot; null: no cap."
    )
    version: int
    updated_at: datetime
    updated_by: str | None = Field(description="The username of whoever saved it last.")
    template_images: list[TemplateImageOut]
    jobs_today: JobCountsOut = Field(description="Jobs started today (server time zone).")

    @staticmethod
    def resolve_jobs_today(slot: Slot) -> dict[str, int]:
        return {
            "total": slot.jobs_total,
            "done": slot.jobs_done,
            "failed": slot.jobs_failed,
            "timeout": slot.jobs_timeout,
        }

    ready: bool = Field(description="Whether the slot can process a photo now.")
    missing: list[str] = Field(
        description="What it lacks to process one (a key, a template image, the public base "
        "URL, valid settings), worded for staff; empty when ready. Saving is not refused for "
        "it: set-up may happen in steps."
    )

    @staticmethod
    def resolve_failover_first(slot: Slot) -> str | None:
        return slot.failover_first_id

    @staticmethod
    def resolve_failover_second(slot: Slot) -> str | None:
        return slot.failover_second_id

    @staticmethod
    def resolve_updated_by(slot: Slot) -> str | None:
        return slot.updated_by.get_username() if slot.updated_by else None

    @staticmethod
    def resolve_ready(slot: Slot) -> bool:
        return not slot.missing


class SlotPatchIn(Schema):
    """Only the fields sent change. A field that may not be empty refuses null."""

    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(default=None)
    provider: Provider = Field(default=None)
    operation: str = Field(default=None)
    is_active: bool = Field(default=None)
    size_limit_mb: int = Field(default=None, description="1 to 20.")
    settings: dict[str, Any] = Field(
        default=None,
        description="Checked against the provider's settings, one of these schemas.",
        json_schema_extra={"anyOf": list(provider_settings_schema().values())},
    )
    on_failure: OnFailure = Field(default=None)
    max_concurrent_jobs: int | None = Field(default=None, description="null: no slot cap.")
    guest_qr_corner: QrCorner = Field(
        default=None,
        description="Stamp the QR code of the guest's page (/r/{job} under the public base URL) "
        "on each result, in this corner; empty for none. Refused without a public base URL.",
    )
    guest_qr_caption: Annotated[str, StringConstraints(max_length=40)] = Field(
        default=None, description="A short text under the code, e.g. “Scan for your photo”."
    )
    failover_first: str | None = Field(
        default=None,
        description="When this slot's provider fails, the slot (id) whose provider, operation, "
        "settings and template images are tried next, in the same deadline; null: none.",
    )
    failover_second: str | None = Field(
        default=None, description="The chain's last step (needs failover_first); null: none."
    )
    daily_paid_calls_cap: int | None = Field(
        default=None,
        description="At this many paid calls today the slot answers with its chain's first "
        "free step or its on_failure; null: no cap.",
    )
    failover_on_refusal: bool = Field(
        default=None,
        description="A provider's refusal for the content (safety, moderation) moves on too.",
    )


class IngestPasswordOut(Schema):
    set: bool
    set_at: datetime | None
    set_by: str | None


class ProviderKeyOut(Schema):
    configured: bool
    configured_since: datetime | None = Field(description="When staff set it; null from env.")
    source: Literal["settings", "environment"] | None
    base_url: str = Field(
        description="Where this provider's calls and key go: its own API, or the address the "
        "server's owner set in the environment (GEMINI_BASE_URL, OPENAI_BASE_URL, "
        "TURBOTEXT_BASE_URL). Slots cannot change it."
    )
    unreadable: bool = Field(
        description="A key set here can no longer be decrypted (the server's SECRET_KEY "
        "changed): set it again."
    )


class ApiKeyOut(Schema):
    id: int | None = Field(description="An extra key's id; null for the main key.")
    provider: str
    label: str = Field(description="main: the settings page's key, or the environment's.")
    added_at: datetime | None
    calls: int = Field(description="Calls made with it.")
    rate_limited: int = Field(description="Times the provider answered 429 or quota exhausted.")
    last_used_at: datetime | None
    resting_until: datetime | None = Field(
        description="After a 429, not used until then (the provider's ask)."
    )
    invalid_since: datetime | None = Field(
        description="When the provider refused it as invalid; it is not used until replaced."
    )
    invalid_reason: str


class ApiKeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=40, description="e.g. the account it is from")
    key: str = Field(min_length=1, max_length=512, description="Write-only: never shown back.")


class ProviderKeysOut(Schema):
    gemini: ProviderKeyOut
    turbotext: ProviderKeyOut
    openai: ProviderKeyOut


class SettingsOut(Schema):
    sync_response_seconds: int
    result_ttl_hours: int
    max_concurrent_jobs: int
    public_base_url: str
    strict_upload_hash: bool
    repeat_window_seconds: int = Field(
        description="A re-send of the same photo to the same slot within this many seconds "
        "gets the first job's result; 0: off."
    )
    gemini_call_price: Decimal = Field(description="Per paid call, for the cost estimate.")
    openai_call_price: Decimal
    turbotext_call_price: Decimal
    daily_paid_calls_cap: int | None = Field(
        description="Paid provider calls a day for all slots together; null: no cap."
    )
    ingest_password: IngestPasswordOut
    provider_keys: ProviderKeysOut
    api_keys: list[ApiKeyOut] = Field(
        description="Every key calls spread over, per provider: the main one, then the extra "
        "ones; with their counters and state, never the key."
    )


class SettingsPatchIn(Schema):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    sync_response_seconds: int = Field(default=None, description="T_sync_response, 5 to 120.")
    result_ttl_hours: int = Field(default=None, description="1 to 720.")
    max_concurrent_jobs: int = Field(default=None, description="At least 1.")
    public_base_url: str = Field(default=None, description="An http(s) URL, or empty.")
    strict_upload_hash: bool = Field(default=None)
    repeat_window_seconds: int = Field(default=None, description="0 to 3600; 0: off.")
    gemini_call_price: Decimal = Field(default=None, description="0 or more, 4 decimals.")
    openai_call_price: Decimal = Field(default=None)
    turbotext_call_price: Decimal = Field(default=None)
    daily_paid_calls_cap: int | None = Field(default=None, description="null: no cap.")


class IngestPasswordIn(Schema):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=6, max_length=128)


class ProviderKeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


@router.get(
    "/slots",
    auth=staff_with("slots.view_slot"),
    response=list[SlotOut],
    summary="List the slots",
)
def slot_list(request: HttpRequest) -> list[Slot]:
    return _with_readiness(slots_overview())


@router.get(
    "/slots/{slot_id}",
    auth=staff_with("slots.view_slot"),
    response={200: SlotOut, 404: ErrorOut},
    summary="Get a slot",
)
def slot_detail(request: HttpRequest, slot_id: str) -> Slot:
    return _with_readiness([slot_overview(slot_id=slot_id)])[0]


@router.patch(
    "/slots/{slot_id}",
    auth=staff_with("slots.view_slot"),
    response={200: SlotOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a slot",
    description="Checked as a whole; it takes effect on the next photo. 422 names each field. "
    "Switching it on or off and changing its prompt need slots.operate_slot; anything else "
    "slots.change_slot.",
)
def slot_change(request: HttpRequest, slot_id: str, payload: SlotPatchIn) -> Slot:
    slot = slot_overview(slot_id=slot_id)
    changes = payload.model_dump(mode="json", exclude_unset=True)
    # An event operator may switch the slot and edit its prompt; anything else is the
    # "change slot" permission's, as in the admin.
    if not slot_changes_within_operation(slot=slot, changes=changes):
        permissions_require(request.auth, ["slots.change_slot"])
    elif not request.auth.has_perm("slots.change_slot"):
        permissions_require(request.auth, ["slots.operate_slot"])
    slot_update(slot=slot, user=request.auth, changes=changes)
    return _with_readiness([slot_overview(slot_id=slot_id)])[0]


def _with_readiness(slots: list[Slot]) -> list[Slot]:
    """The slots, each with what it lacks to process a photo (SlotOut.missing)."""
    settings = settings_get()
    for slot in slots:
        slot.missing = slot_missing(slot=slot, settings=settings)
    return slots


@router.post(
    "/slots/{slot_id}/template-images",
    auth=staff_with("slots.change_slot", "slots.add_templateimage"),
    response={201: TemplateImageOut, 404: ErrorOut, 415: ErrorOut, 422: ErrorOut},
    summary="Add a template image",
    description="A whole JPEG, PNG or WebP (else 415).",
)
def template_image_upload(
    request: HttpRequest, slot_id: str, file: File[UploadedFile], role: Form[TemplateRole]
) -> Status[TemplateImage]:
    slot = slot_require(slot_id=slot_id)
    return Status(201, template_image_add(slot=slot, role=role, upload=file))


@router.delete(
    "/slots/{slot_id}/template-images/{image_id}",
    auth=staff_with("slots.change_slot", "slots.delete_templateimage"),
    response={204: None, 404: ErrorOut},
    summary="Remove a template image",
)
def template_image_remove(request: HttpRequest, slot_id: str, image_id: int) -> Status[None]:
    template_image_delete(image=template_image_get(slot_id=slot_id, image_id=image_id))
    return Status(204, None)


@router.get(
    "/slots/{slot_id}/template-images/{image_id}/file",
    auth=staff_with("slots.view_templateimage"),
    url_name="slot_template_image_file",
    response={404: ErrorOut},
    summary="Download a template image",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The image.",
                "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
            }
        }
    },
)
def template_image_file(request: HttpRequest, slot_id: str, image_id: int) -> HttpResponse:
    image = template_image_get(slot_id=slot_id, image_id=image_id)
    response = HttpResponse(
        media_file_bytes(storage_name=image.storage_name), content_type=image.content_type
    )
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/settings",
    auth=staff_with("slots.view_globalsettings"),
    response=SettingsOut,
    tags=["settings"],
    summary="Get the settings",
)
def settings_detail(request: HttpRequest) -> SettingsOverview:
    return settings_overview()


@router.patch(
    "/settings",
    auth=staff_with("slots.change_globalsettings"),
    response={200: SettingsOut, 422: ErrorOut},
    tags=["settings"],
    summary="Change the settings",
    description="Not the ingest password or provider keys: they have their own endpoints.",
)
def settings_change(request: HttpRequest, payload: SettingsPatchIn) -> SettingsOverview:
    settings_update(changes=payload.model_dump(mode="json", exclude_unset=True))
    return settings_overview()


@router.put(
    "/settings/ingest-password",
    auth=staff_with("slots.change_globalsettings"),
    response={204: None, 422: ErrorOut},
    tags=["settings"],
    summary="Set the ingest password",
    description="Stored hashed; the old password stops working at once. Never shown back.",
)
def ingest_password_change(request: HttpRequest, payload: IngestPasswordIn) -> Status[None]:
    ingest_password_set(password=payload.password, set_by=request.auth.get_username())
    return Status(204, None)


@router.put(
    "/settings/provider-keys/{provider}",
    auth=staff_with("slots.change_globalsettings"),
    response={204: None, 422: ErrorOut},
    tags=["settings"],
    summary="Set a provider's API key",
    description="Write-only: it is never shown back, only whether and since when it is set.",
)
def provider_key_change(
    request: HttpRequest, provider: ProviderKeyName, payload: ProviderKeyIn
) -> Status[None]:
    provider_key_set(provider=provider, key=payload.key)
    return Status(204, None)


@router.delete(
    "/settings/provider-keys/{provider}",
    auth=staff_with("slots.change_globalsettings"),
    response={204: None},
    tags=["settings"],
    summary="Clear a provider's API key",
    description="A key from the environment, if any, applies again.",
)
def provider_key_clear(request: HttpRequest, provider: ProviderKeyName) -> Status[None]:
    provider_key_set(provider=provider, key="")
    return Status(204, None)


@router.post(
    "/settings/provider-keys/{provider}/more",
    auth=staff_with("slots.change_globalsettings"),
    response={201: ApiKeyOut, 422: ErrorOut},
    tags=["settings"],
    summary="Add one more API key of a provider",
    description="Calls spread over all of a provider's keys; a rate-limited key rests, an "
    "invalid one is put aside. Stored encrypted; never shown back.",
)
def provider_key_more(
    request: HttpRequest, provider: ProviderKeyName, payload: ApiKeyIn
) -> Status[ApiKeyOut]:
    added = provider_key_add(provider=provider, label=payload.label, key=payload.key)
    shown = next(key for key in settings_overview().api_keys if key.id == added.pk)
    return Status(201, shown)


@router.delete(
    "/settings/provider-keys/more/{key_id}",
    auth=staff_with("slots.change_globalsettings"),
    response={204: None, 404: ErrorOut},
    tags=["settings"],
    summary="Remove an extra API key",
)
def provider_key_less(request: HttpRequest, key_id: int) -> Status[None]:
    if not provider_key_remove(key_id=key_id):
        raise ApiKeyNotFound()
    return Status(204, None)
