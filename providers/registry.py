"""Which driver serves which provider name."""

from __future__ import annotations

from providers.base import Provider
from providers.gemini import GeminiProvider
from providers.local import LocalProvider

_DRIVERS: dict[str, Provider] = {"local": LocalProvider(), "gemini": GeminiProvider()}


def provider_for(name: str) -> Provider | None:
    return _DRIVERS.get(name)
