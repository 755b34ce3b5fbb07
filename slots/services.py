"""Writes and rules for slots and the global settings."""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password, make_password
from django.utils import timezone

from photochanger.errors import SlotSettingsInvalid
from providers.registry import provider_for
from slots.defaults import default_slots
from slots.models import ApiToken, GlobalSettings, Slot

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
    """Store a new ingest password, hashed; the old one stops working at once."""
    stored = make_password(password)
    GlobalSettings.objects.filter(pk=settings_get().pk).update(
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
    slot, so a bad setting is refused then, not when a guest is waiting.
    """
    driver = provider_for(provider)
    if driver is None:
        return {"provider": f"Unknown provider {provider!r}."}
    if not isinstance(settings, dict):
        return {"settings": "Settings must be a JSON object."}
    problems = {}
    for name, message in driver.settings_problems(operation, settings).items():
        problems["operation" if name == "" else f"settings.{name}"] = message
    return problems


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


API_TOKEN_PREFIX = "pc_"  # noqa: S105 (a visible marker, not a secret)


def api_token_create(*, user: object, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the plaintext is returned once and never stored."""
    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        token_sha256=hashlib.sha256(plaintext.encode()).hexdigest(),
        prefix=plaintext[: len(API_TOKEN_PREFIX) + 5],
    )
    return token, plaintext


def api_token_user(*, plaintext: str) -> object | None:
    """The active staff user a token belongs to, or None."""
    digest = hashlib.sha256(plaintext.encode()).hexdigest()
    token = ApiToken.objects.select_related("user").filter(token_sha256=digest).first()
    if token is None or not (token.user.is_active and token.user.is_staff):
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def slots_ensure_defaults() -> None:
    """Create any of the 15 slots that is missing, with its fresh-install values."""
    for values in default_slots():
        Slot.objects.get_or_create(id=values["id"], defaults=values)
    settings_get()
