"""A provider's API keys and what they went through: the key on the settings page (or, without
one, the environment's), then the extra ones (ProviderKey), in a KeyRing (providers.keys) whose
state is kept in the database, so every server process spreads its calls over the same keys
and sees the same resting and invalid ones.

A key's state is kept under a keyed fingerprint (HMAC with the installation's secret), never the
key: a replaced key starts afresh, and nothing in the table gives a key away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from photochanger.encryption import secret_decrypt
from photochanger.executors import run_database_work
from providers.keys import ApiKey
from slots.models import KEYED_PROVIDERS, GlobalSettings, ProviderKey, ProviderKeyUse

# How long a rate-limited key rests when the provider does not say.
DEFAULT_REST_SECONDS = 1.0
API_KEY_FIELDS = {
    "gemini": "gemini_api_key",
    "turbotext": "turbotext_api_key",
    "openai": "openai_api_key",
}


def provider_api_key(*, settings: GlobalSettings, provider: str) -> str:
    """The key staff set in the admin, else the one from the environment, else ''."""
    field = API_KEY_FIELDS.get(provider)
    from_admin = secret_decrypt(getattr(settings, field, "")) if field else ""
    return from_admin or django_settings.PROVIDER_API_KEYS.get(provider, "")


def key_fingerprint(provider: str, secret: str) -> str:
    return salted_hmac("photochanger.provider-key", f"{provider}:{secret}").hexdigest()[:32]


def provider_api_keys(*, settings: GlobalSettings, provider: str) -> list[ApiKey]:
    """Every key of ``provider`` that can be read: the settings page's (else the
    environment's), then the extra ones, oldest first."""
    return [key for _extra, key in _readable_keys(settings=settings, provider=provider)]


def _readable_keys(
    *, settings: GlobalSettings, provider: str
) -> list[tuple[ProviderKey | None, ApiKey]]:
    """provider_api_keys with the extra key's row beside each (None for the main key)."""
    keys: list[tuple[ProviderKey | None, str, str]] = []
    if main := provider_api_key(settings=settings, provider=provider):
        keys.append((None, "main", main))
    for extra in ProviderKey.objects.filter(provider=provider):
        if secret := secret_decrypt(extra.secret):
            keys.append((extra, extra.label, secret))
    return [
        (extra, ApiKey(label=label, secret=secret, fingerprint=key_fingerprint(provider, secret)))
        for extra, label, secret in keys
    ]


@dataclass(frozen=True)
class KeyState:
    calls: int
    rate_limited: int
    last_used_at: datetime | None
    resting_until: datetime | None
    invalid_at: datetime | None
    invalid_reason: str


NEVER_USED = KeyState(0, 0, None, None, None, "")


def key_states(*, provider: str, fingerprints: list[str]) -> dict[str, KeyState]:
    rows = ProviderKeyUse.objects.filter(provider=provider, fingerprint__in=fingerprints)
    return {
        row.fingerprint: KeyState(
            calls=row.calls,
            rate_limited=row.rate_limited,
            last_used_at=row.last_used_at,
            resting_until=row.resting_until,
            invalid_at=row.invalid_at,
            invalid_reason=row.invalid_reason,
        )
        for row in rows
    }


class StoredKeyRing:
    """A KeyRing over ``keys`` with their state in ProviderKeyUse: every method is one or two
    small queries, on a database thread. Made on a database thread, it takes the first call's
    key there and then, so a call that goes through costs no trip of its own."""

    def __init__(self, provider: str, keys: list[ApiKey]) -> None:
        self.provider = provider
        self.keys = keys
        self.size = len(keys)
        self._first = self._take() if keys else None

    async def take(self) -> ApiKey | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await run_database_work(self._take)

    async def rest(self, key: ApiKey, seconds: float | None) -> None:
        until = timezone.now() + timedelta(seconds=seconds or DEFAULT_REST_SECONDS)
        await run_database_work(
            self._update, key, rate_limited=F("rate_limited") + 1, resting_until=until
        )

    async def refuse(self, key: ApiKey, reason: str) -> None:
        await run_database_work(
            self._update, key, invalid_at=timezone.now(), invalid_reason=reason[:200]
        )

    async def served(self, key: ApiKey) -> None:
        pass  # counted when taken; a key refused once is replaced, not cleared

    async def next_free_in(self) -> float | None:
        return await run_database_work(self._next_free_in)

    def _states(self) -> dict[str, KeyState]:
        fingerprints = [key.fingerprint for key in self.keys]
        return key_states(provider=self.provider, fingerprints=fingerprints)

    def _take(self) -> ApiKey | None:
        now = timezone.now()
        states = self._states()
        free = [
            key
            for key in self.keys
            if (state := states.get(key.fingerprint, NEVER_USED)).invalid_at is None
            and (state.resting_until is None or state.resting_until <= now)
        ]
        if not free:
            return None
        never = datetime.min.replace(tzinfo=now.tzinfo)
        chosen = min(
            free, key=lambda key: states.get(key.fingerprint, NEVER_USED).last_used_at or never
        )
        self._update(chosen, calls=F("calls") + 1, last_used_at=now)
        return chosen

    def _next_free_in(self) -> float | None:
        now = timezone.now()
        states = self._states()
        waits = [
            max(0.0, (state.resting_until - now).total_seconds()) if state.resting_until else 0.0
            for key in self.keys
            if (state := states.get(key.fingerprint, NEVER_USED)).invalid_at is None
        ]
        return min(waits) if waits else None

    def _update(self, key: ApiKey, **changes: object) -> None:
        rows = ProviderKeyUse.objects.filter(provider=self.provider, fingerprint=key.fingerprint)
        if rows.update(**changes):
            return
        try:
            with transaction.atomic():
                ProviderKeyUse.objects.create(provider=self.provider, fingerprint=key.fingerprint)
        except IntegrityError:  # another process made it first
            pass
        rows.update(**changes)


@dataclass(frozen=True)
class ApiKeyOverview:
    """A key as staff see it: never the key."""

    id: int | None  # an extra key's; None for the settings page's or the environment's
    provider: str
    label: str
    added_at: datetime | None
    calls: int
    rate_limited: int
    last_used_at: datetime | None
    resting_until: datetime | None
    invalid_since: datetime | None
    invalid_reason: str


def api_keys_overview(*, settings: GlobalSettings) -> list[ApiKeyOverview]:
    """Every provider's keys with their counters and state, the main one first."""
    overview = []
    for provider, _label in KEYED_PROVIDERS:
        keys = _readable_keys(settings=settings, provider=provider)
        states = key_states(provider=provider, fingerprints=[key.fingerprint for _, key in keys])
        for extra, key in keys:
            state = states.get(key.fingerprint, NEVER_USED)
            overview.append(
                ApiKeyOverview(
                    id=extra.pk if extra else None,
                    provider=provider,
                    label=key.label,
                    added_at=extra.created_at if extra else None,
                    calls=state.calls,
                    rate_limited=state.rate_limited,
                    last_used_at=state.last_used_at,
                    resting_until=state.resting_until,
                    invalid_since=state.invalid_at,
                    invalid_reason=state.invalid_reason,
                )
            )
    return overview
