"""Reads of slots and settings."""

from __future__ import annotations

from django.conf import settings as django_settings

from slots.models import GlobalSettings, Slot

_API_KEY_FIELDS = {
    "gemini": "gemini_api_key",
    "turbotext": "turbotext_api_key",
    "openai": "openai_api_key",
}


def slot_get(*, slot_id: str) -> Slot | None:
    """The slot, or None for an unknown id."""
    try:
        return Slot.objects.get(pk=slot_id)
    except Slot.DoesNotExist:
        return None


def provider_api_key(*, settings: GlobalSettings, provider: str) -> str:
    """The key staff set in the admin, else the one from the environment, else ''."""
    field = _API_KEY_FIELDS.get(provider)
    from_admin = getattr(settings, field, "") if field else ""
    return from_admin or django_settings.PROVIDER_API_KEYS.get(provider, "")
