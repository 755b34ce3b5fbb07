"""The slot page's live preview of the print: the last test run's answer, as the provider gave
it, laid out by the output block and QR code in the form, saved or not.

Staff try sizes and fits while they type, without a new provider call (5-15 s, and paid): each
test run keeps a small copy of its answer, before any layout, in the cache (shared by every
server process when Redis is set) for a day, and the preview lays that copy out at screen size.
The geometry is the print's: a crop or a band is where the real print has it.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

from django.core.cache import cache
from django.utils.translation import gettext
from PIL import Image, ImageOps

from media.images import flattened
from media.prints import GuestQr, PrintLayout, print_ready
from photochanger.errors import NoTestRun, SlotSettingsInvalid
from slots.models import QrCorner
from slots.output import output_layout, output_problems
from slots.selectors import slot_require
from slots.services import settings_get

# Long side of the copy a test run keeps, and of the preview the slot page shows.
_SOURCE_SIDE = 800
PREVIEW_SIDE = 600
_SOURCE_SECONDS = 24 * 60 * 60
# The guest page's address has this length in production; the preview's code has as many modules.
_EXAMPLE_JOB = "00000000-0000-4000-8000-000000000000"


def _cache_key(slot_id: str) -> str:
    return f"photochanger:print-preview-source:{slot_id}"


def preview_source_keep(*, slot_id: str, answer: bytes) -> None:
    """Keep a small copy of a test run's ``answer`` (before layout) for the slot's preview;
    nothing when it is no image Pillow reads (the test run shows what went wrong)."""
    try:
        with Image.open(io.BytesIO(answer)) as image:
            image.draft("RGB", (_SOURCE_SIDE, _SOURCE_SIDE))
            upright = ImageOps.exif_transpose(image)
            small = flattened(upright)
    except (OSError, SyntaxError, ValueError):
        return
    small = small if small.mode == "RGB" else small.convert("RGB")
    small.thumbnail((_SOURCE_SIDE, _SOURCE_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=85)
    cache.set(_cache_key(slot_id), buffer.getvalue(), _SOURCE_SECONDS)


@dataclass(frozen=True)
class PrintPreview:
    """What a preview is made of: the kept answer, the layout at screen size, the code."""

    source: bytes
    layout: PrintLayout | None
    qr: GuestQr | None


def print_preview_prepare(
    *, slot_id: str, settings: dict, qr_corner: str, qr_caption: str
) -> PrintPreview:
    """The slot's last test run with ``settings``' output block (at screen size) and the
    guest's code when ``qr_corner``. SlotNotFound, SlotSettingsInvalid for a wrong output
    block or corner, NoTestRun when the slot has had no test run lately."""
    slot_require(slot_id=slot_id)
    problems = output_problems(settings)
    if qr_corner not in QrCorner.values:
        problems["guest_qr_corner"] = gettext("The corner must be one of %(corners)s.") % {
            "corners": ", ".join(corner for corner in QrCorner.values if corner)
        }
    if problems:
        raise SlotSettingsInvalid(problems)
    source = cache.get(_cache_key(slot_id))
    if source is None:
        raise NoTestRun("run a test photo first: the preview lays out its answer")
    layout = output_layout(settings)
    if layout is not None:
        layout = dataclasses.replace(layout, format="jpeg", quality=85)
        if layout.width and layout.height:
            scale = PREVIEW_SIDE / max(layout.width, layout.height)
            width, height = (max(1, round(side * scale)) for side in (layout.width, layout.height))
            layout = dataclasses.replace(layout, width=width, height=height)
    qr = None
    if qr_corner:
        base_url = settings_get().public_base_url.rstrip("/") or "https://photos.example.org"
        qr = GuestQr(url=f"{base_url}/r/{_EXAMPLE_JOB}", corner=qr_corner, caption=qr_caption)
    return PrintPreview(source=source, layout=layout, qr=qr)


def print_preview_render(preview: PrintPreview) -> bytes:
    """The preview as a JPEG (image work: run it on an image thread)."""
    return print_ready(preview.source, preview.layout, qr=preview.qr)[0]
