"""Which driver serves which provider name."""

from __future__ import annotations

from providers.base import Provider
from providers.gemini import GeminiProvider
from providers.local import LocalProvider
from providers.openai import OpenAIProvider
from providers.turbotext import TurbotextProvider

_DRIVERS: dict[str, Provider] = {
    "local": LocalProvider(),
    "gemini": GeminiProvider(),
    "openai": OpenAIProvider(),
    "turbotext": TurbotextProvider(),
}


def provider_for(name: str) -> Provider | None:
    return _DRIVERS.get(name)


def providers_by_name() -> dict[str, Provider]:
    return dict(_DRIVERS)
