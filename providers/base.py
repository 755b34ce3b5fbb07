"""The provider interface: a photo, the slot's settings and template images, and a deadline in;
an image out, or a ProviderError.

The pipeline runs ``process`` under the job's deadline and cancels it when time is up, so a driver
never has to answer late; it uses ``deadline`` only to decide whether a retry still fits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from providers.keys import KeyRing
    from providers.settings import ProviderSettings


class ProviderError(Exception):
    """The provider refused, failed or sent no image. ``retryable`` errors may be tried again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ProviderRefused(ProviderError):
    """The provider refused the photo or prompt for its content (safety, moderation): another
    provider may accept it, so a failover chain moves on only when the slot says so."""


class ProviderInputError(ProviderError):
    """The photo itself cannot be processed (it does not decode): the guest's input is at fault."""


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() value

    @classmethod
    def in_seconds(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


@dataclass(frozen=True)
class TemplateImageInput:
    role: str
    content_type: str
    data: bytes
    url: str = ""  # a public provider-media URL, for providers that fetch images themselves


@dataclass(frozen=True)
class ProviderRequest:
    job_id: str
    photo_path: Path
    photo_format: str  # Pillow's name: JPEG, PNG or WEBP
    photo_orientation: int  # EXIF orientation, 1 when upright
    operation: str
    settings: dict
    # Computed once by the caller, from the event's settings; a driver only compares against it.
    deadline: Deadline
    template_images: list[TemplateImageInput] = field(default_factory=list)
    api_key: str = ""
    # Several keys, spread over calls (providers.keys); without it, ``api_key`` alone.
    keys: KeyRing | None = None
    # A public URL of the photo, set for providers that fetch images by URL.
    photo_url: str = ""

    def templates_with_role(self, role: str) -> list[TemplateImageInput]:
        return [image for image in self.template_images if image.role == role]

    def key_ring(self, provider: str) -> KeyRing:
        """The keys to call ``provider`` with: the pipeline's ring, or ``api_key`` alone."""
        from providers.keys import SingleKey  # keys imports this module

        return self.keys if self.keys is not None else SingleKey(provider, self.api_key)


@dataclass(frozen=True)
class ProviderResult:
    """The processed image as bytes, or ``photo_unchanged`` when the photo itself is the result
    (so the pipeline can keep the uploaded file instead of copying it)."""

    format: str  # Pillow's name: JPEG, PNG or WEBP
    data: bytes = b""
    photo_unchanged: bool = False


class Provider(Protocol):
    name: str
    operations: tuple[str, ...]
    # True when the provider downloads the photo and templates itself (photo_url, url).
    needs_public_urls: bool
    # The slot settings the provider reads: checked on save, read for calls, shown to staff.
    settings_model: type[ProviderSettings]
    # False for the offline provider: no key to set before a slot can work.
    needs_api_key: bool

    def uses_template_images(self, operation: str) -> bool:
        """Whether ``operation`` reads the slot's template images (else they are not loaded)."""
        ...

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        """The template roles ``operation`` cannot work without (a slot is not ready without
        them)."""
        ...

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        """What is wrong with a slot's operation and settings, by setting name ('' when
        the operation itself is wrong); empty when they are valid. Checked when staff save
        a slot, so a bad setting never waits for a guest."""
        ...

    async def process(self, request: ProviderRequest) -> ProviderResult: ...
