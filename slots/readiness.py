"""Whether a slot can work: what a guest's first photo would otherwise find missing.

Saving such a slot is allowed (staff set a slot up in steps: the key may come tomorrow), but
staff are told what is missing when they save it, in the slot list, on the stats page, at
start-up and in ``/healthz?slots=1``.
"""

from __future__ import annotations

from django.utils.translation import gettext

from providers.registry import provider_for
from slots.keys import provider_api_keys
from slots.models import GlobalSettings, Slot
from slots.services import settings_get, slot_settings_problems


def slot_missing(*, slot: Slot, settings: GlobalSettings | None = None) -> list[str]:
    """What ``slot`` lacks to process a photo, worded for staff; empty when it is ready.

    Reads the slot's template images (prefetch them for many slots) and the settings row.
    """
    driver = provider_for(slot.provider)
    problems = slot_settings_problems(
        provider=slot.provider, operation=slot.operation, settings=slot.settings
    )
    if driver is None or problems:
        return [
            gettext("Its settings are not valid: %(problems)s") % {"problems": _listed(problems)}
        ]
    settings = settings or settings_get()
    missing = []
    name = slot.get_provider_display()
    if driver.needs_api_key and not provider_api_keys(settings=settings, provider=slot.provider):
        missing.append(
            gettext(
                "No %(provider)s API key: set one on the settings page (or %(variable)s in the "
                "server's environment)."
            )
            % {"provider": name, "variable": f"{slot.provider.upper()}_API_KEY"}
        )
    if driver.needs_public_urls and not settings.public_base_url:
        missing.append(
            gettext(
                "%(provider)s downloads the photo from this server: set the public base URL "
                "on the settings page."
            )
            % {"provider": name}
        )
    if slot.guest_qr_corner and not settings.public_base_url:
        missing.append(
            gettext("Its QR code needs the public base URL: set it on the settings page.")
        )
    roles = {image.role for image in slot.template_images.all()}
    for role in driver.required_template_roles(slot.operation):
        if role not in roles:
            missing.append(
                gettext(
                    "The “%(operation)s” operation needs a template image with the role %(role)s."
                )
                % {"operation": slot.operation, "role": role}
            )
    return missing


def active_slots_missing() -> dict[str, list[str]]:
    """Each active slot's id with what it lacks (empty when ready), in id order."""
    settings = settings_get()
    slots = Slot.objects.filter(is_active=True).prefetch_related("template_images").order_by("id")
    return {slot.id: slot_missing(slot=slot, settings=settings) for slot in slots}


def _listed(problems: dict[str, str]) -> str:
    return "; ".join(f"{field}: {message}" for field, message in problems.items())
