"""Writes and rules for slots and the global settings."""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from media.services import media_file_delete, template_image_file_save
from photochanger.encryption import secret_encrypt
from photochanger.errors import SlotSettingsInvalid
from providers.registry import provider_for
from slots.defaults import default_slots
from slots.models import GlobalSettings, ProviderKey, Slot, TemplateImage, TemplateRole
from slots.output import output_problems
from slots.prompts import PROMPT_SETTINGS, prompt_fields_problems

ENVIRONMENT = "environment"
GENERATED = "generated at first start"

# stored password hash -> SHA-256 of the password that last verified against it. The stored
# hash is deliberately slow (PBKDF2); the booth sends a photo every few seconds, so each
# process pays that cost once per password and compares a fast digest afterwards. A different
# stored hash (the password was changed anywhere) misses the cache, so the old one stops at once.
_verified_digests: dict[str, bytes] = {}


def settings_get() -> GlobalSettings:
    """The one settings row, created with defaults when missing."""
    row, _ = GlobalSettings.objects.get_or_create(pk=1)
    return row


def ingest_password_set(*, password: str, set_by: str) -> None:
    """Store a new ingest password, hashed; the old one stops working at once. Its hash is
    kept as the previous one, so a booth still sending it can be told the password changed."""
    stored = make_password(password)
    GlobalSettings.objects.filter(pk=settings_get().pk).update(
        # Read by the UPDATE itself: the hash being replaced, even if another process set it.
        ingest_password_previous_hash=F("ingest_password_hash"),
        ingest_password_hash=stored,
        ingest_password_set_at=timezone.now(),
        ingest_password_set_by=set_by,
    )
    _remember(stored, password)


def ingest_password_check(*, stored_hash: str, candidate: str) -> bool:
    """True when ``candidate`` is the ingest password whose hash is ``stored_hash``."""
    if not stored_hash:
        return False
    digest = hashlib.sha256(candidate.encode()).digest()
    known = _verified_digests.get(stored_hash)
    if known is not None:
        # A correct password would have matched the remembered one, so no slow hash here.
        return hmac.compare_digest(known, digest)
    if check_password(candidate, stored_hash):
        _remember(stored_hash, candidate)
        return True
    return False


def _remember(stored_hash: str, password: str) -> None:
    _verified_digests.clear()
    _verified_digests[stored_hash] = hashlib.sha256(password.encode()).digest()


def ingest_password_ensure() -> str | None:
    """Make sure an ingest password is set at start-up; return it when it was generated.

    ``INGEST_PASSWORD`` from the environment is applied unless staff have since set another
    one in the admin. With neither, a random password is generated and returned once, so the
    operator sees it; it is never shown again.
    """
    row = settings_get()
    from_env = django_settings.INGEST_PASSWORD
    if from_env:
        staff_chose_another = row.ingest_password_set_by not in ("", ENVIRONMENT, GENERATED)
        if not staff_chose_another and not ingest_password_check(
            stored_hash=row.ingest_password_hash, candidate=from_env
        ):
            ingest_password_set(password=from_env, set_by=ENVIRONMENT)
        return None
    if row.ingest_password_hash:
        return None
    generated = secrets.token_urlsafe(9)
    ingest_password_set(password=generated, set_by=GENERATED)
    return generated


def slot_settings_problems(*, provider: str, operation: str, settings: object) -> dict[str, str]:
    """What is wrong with a slot's provider, operation and settings, by field; empty if valid.

    Keys are ``provider``, ``operation`` or ``settings.<name>``. Checked when staff save a
    slot, so a bad setting is refused then, not when a guest is waiting. Worded in the active
    language, as staff read them on the slot page and in the test run's answer.
    """
    driver = provider_for(provider)
    if driver is None:
        unknown = gettext("Unknown provider %(provider)s.") % {"provider": repr(provider)}
        return {"provider": unknown}
    if not isinstance(settings, dict):
        return {"settings": gettext("Settings must be a JSON object.")}
    problems = {}
    for name, message in driver.settings_problems(operation, settings).items():
        problems["operation" if name == "" else f"settings.{name}"] = message
    for name, message in (prompt_fields_problems(settings) | output_problems(settings)).items():
        problems[f"settings.{name}"] = message
    return problems


def guest_qr_problem(*, corner: str) -> str | None:
    """Why a slot may not stamp the guest's QR code now, or None."""
    if corner and not settings_get().public_base_url:
        return gettext(
            "The QR code leads to the guest's page at the public base URL: set it on the "
            "settings page first."
        )
    return None


@dataclass(frozen=True)
class SlotOverrides:
    """Unsaved changes staff try in a test run; None means "as saved"."""

    provider: str | None = None
    operation: str | None = None
    settings: dict | None = None


def slot_with_overrides(*, slot: Slot, overrides: SlotOverrides) -> Slot:
    """An unsaved copy of ``slot`` with the overrides applied; SlotSettingsInvalid if they
    do not make a valid slot. The saved slot is not touched."""
    trial = copy.copy(slot)
    if overrides.provider is not None:
        trial.provider = overrides.provider
    if overrides.operation is not None:
        trial.operation = overrides.operation
    if overrides.settings is not None:
        trial.settings = overrides.settings
    problems = slot_settings_problems(
        provider=trial.provider, operation=trial.operation, settings=trial.settings
    )
    if problems:
        raise SlotSettingsInvalid(problems)
    return trial


SLOT_EDITABLE_FIELDS = (
    "display_name",
    "provider",
    "operation",
    "is_active",
    "size_limit_mb",
    "settings",
    "on_failure",
    "max_concurrent_jobs",
    "guest_qr_corner",
    "guest_qr_caption",
    "failover_first",
    "failover_second",
    "failover_on_refusal",
    "daily_paid_calls_cap",
)
# Slots named by their id in the API (the admin's form sends the same ids).
_SLOT_REFERENCES = ("failover_first", "failover_second")
SETTINGS_EDITABLE_FIELDS = (
    "sync_response_seconds",
    "result_ttl_hours",
    "max_concurrent_jobs",
    "public_base_url",
    "strict_upload_hash",
    "repeat_window_seconds",
    "gemini_call_price",
    "openai_call_price",
    "turbotext_call_price",
    "daily_paid_calls_cap",
)
PROVIDER_KEY_NAMES = ("gemini", "turbotext", "openai")


# An event operator may edit a slot's prompt (PROMPT_SETTINGS) and switch it on or off, but
# nothing else (photochanger.roles).


def slot_changes_within_operation(*, slot: Slot, changes: dict) -> bool:
    """Whether ``changes`` only switch ``slot`` on or off and edit its prompt (values sent
    unchanged do not count)."""
    for name, value in changes.items():
        if name == "is_active" or _slot_value(slot, name) == value:
            continue
        if name == "settings" and _without_prompt(value) == _without_prompt(slot.settings):
            continue
        return False
    return True


def _slot_value(slot: Slot, name: str) -> object:
    return getattr(slot, f"{name}_id" if name in _SLOT_REFERENCES else name)


def _without_prompt(settings: object) -> object:
    if not isinstance(settings, dict):
        return settings
    return {name: value for name, value in settings.items() if name not in PROMPT_SETTINGS}


def slot_update(*, slot: Slot, user: object, changes: dict) -> Slot:
    """Apply staff's changes to a slot, checked as a whole; it takes effect on the next photo.

    Last write wins; every save bumps ``version``. Raises SlotSettingsInvalid (by field) and
    saves nothing when the result would not be a valid slot.
    """
    unknown = set(changes) - set(SLOT_EDITABLE_FIELDS)
    if unknown:
        raise SlotSettingsInvalid({name: "This field cannot be changed." for name in unknown})
    for name, value in changes.items():
        setattr(slot, f"{name}_id" if name in _SLOT_REFERENCES else name, value)
    # Field rules from the model, and the provider's own finer ones (settings.<name>).
    problems = {
        field: message
        for field, message in _validation_problems(slot).items()
        if field not in ("operation", "settings")
    }
    problems |= slot_settings_problems(
        provider=slot.provider, operation=slot.operation, settings=slot.settings
    )
    if problem := guest_qr_problem(corner=slot.guest_qr_corner):
        problems["guest_qr_corner"] = problem
    if problems:
        raise SlotSettingsInvalid(problems)
    # Counted in the database, so two staff saving at once still get two versions.
    slot.version = F("version") + 1
    slot.updated_by = user
    slot.save()
    slot.refresh_from_db(fields=["version"])
    return slot


def settings_update(*, changes: dict) -> GlobalSettings:
    """Apply staff's changes to the global settings (not the password or keys), checked."""
    unknown = set(changes) - set(SETTINGS_EDITABLE_FIELDS)
    if unknown:
        raise SlotSettingsInvalid({name: "This field cannot be changed." for name in unknown})
    row = settings_get()
    for name, value in changes.items():
        setattr(row, name, value)
    if problems := _validation_problems(row):
        raise SlotSettingsInvalid(problems)
    row.save()
    return row


def provider_key_set(*, provider: str, key: str) -> None:
    """Store a provider's API key, encrypted (an empty key clears it). It is never shown back."""
    if provider not in PROVIDER_KEY_NAMES:
        raise SlotSettingsInvalid({"provider": f"Unknown provider {provider!r}."})
    key = key.strip()
    GlobalSettings.objects.filter(pk=settings_get().pk).update(
        **{
            f"{provider}_api_key": secret_encrypt(key),
            f"{provider}_api_key_set_at": timezone.now() if key else None,
        }
    )


def _validation_problems(instance: models.Model) -> dict[str, str]:
    try:
        instance.full_clean()
    except ValidationError as error:
        return {field: " ".join(messages) for field, messages in error.message_dict.items()}
    return {}


def template_image_add(*, slot: Slot, role: str, upload: UploadedFile) -> TemplateImage:
    """Add a template image to a slot (UnsupportedMediaType unless a whole JPEG/PNG/WebP)."""
    if role not in TemplateRole.values:
        raise SlotSettingsInvalid(
            {"role": f"The role must be one of: {', '.join(TemplateRole.values)}."}
        )
    name, info = template_image_file_save(slot_id=slot.id, upload=upload)
    try:
        return TemplateImage.objects.create(
            slot=slot,
            role=role,
            storage_name=name,
            content_type=info.content_type,
            size_bytes=upload.size,
        )
    except BaseException:
        media_file_delete(storage_name=name)
        raise


def template_image_delete(*, image: TemplateImage) -> None:
    """Remove a template image: its row first, so no job picks a file that is going away."""
    name = image.storage_name
    image.delete()
    media_file_delete(storage_name=name)


def slots_ensure_defaults() -> None:
    """Create any of the 15 slots that is missing, with its fresh-install values."""
    present = set(Slot.objects.values_list("id", flat=True))
    missing = [Slot(**values) for values in default_slots() if values["id"] not in present]
    Slot.objects.bulk_create(missing, ignore_conflicts=True)  # a concurrent call made them
    settings_get()


def provider_key_add(*, provider: str, label: str, key: str) -> ProviderKey:
    """One more API key of ``provider``, stored encrypted; calls spread over all its keys."""
    problems = {}
    if provider not in PROVIDER_KEY_NAMES:
        problems["provider"] = f"Unknown provider {provider!r}."
    if not label.strip():
        problems["label"] = "Give the key a label, e.g. the account it belongs to."
    if not key.strip():
        problems["key"] = "The key is empty."
    if problems:
        raise SlotSettingsInvalid(problems)
    return ProviderKey.objects.create(
        provider=provider, label=label.strip()[:40], secret=secret_encrypt(key.strip())
    )


def provider_key_remove(*, key_id: int) -> bool:
    """Remove an extra API key; False when there was none with that id."""
    return ProviderKey.objects.filter(pk=key_id).delete()[0] > 0
