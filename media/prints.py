"""Results shaped for the booth's printer: a paper size in pixels, a fit, the DPI, a format.

AI providers answer 1024 px squares or whatever aspect they like; a booth prints 4x6 in, 5x7 in,
2x6 in strips or squares. A slot's ``output`` block (slots.output) says which; this module
only does the pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from media.images import flattened

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class PrintLayout:
    width: int | None  # None: as the provider answered
    height: int | None
    fit: str  # "crop": fill the paper, centred, the excess cut off; "contain": all of it, bands
    background: str  # the bands' colour, and what transparency is laid on
    dpi: int
    format: str  # "jpeg", "png" or "webp"
    quality: int


def print_ready(data: bytes, layout: PrintLayout) -> tuple[bytes, str]:
    """The image in ``data`` laid out for print, and its Pillow format name."""
    with Image.open(io.BytesIO(data)) as image:
        if layout.width and layout.height:
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale when that still covers the paper (either
            # way up): a 24 MP photo for a 4x6 print decodes at 6 MP, in a third of the time.
            side = max(layout.width, layout.height)
            image.draft("RGB", (side, side))
        # Turned upright for good: the print has no EXIF orientation left to misread.
        upright = ImageOps.exif_transpose(image)
        profile = image.info.get("icc_profile")
        opaque = flattened(upright, background=layout.background)
    if profile and opaque.mode == "RGB":
        # Printers and their drivers assume sRGB: an Adobe RGB photo would print dull.
        opaque = ImageCms.profileToProfile(
            opaque,
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGB",
        )
    if layout.width and layout.height:
        size = (layout.width, layout.height)
        if layout.fit == "contain":
            fitted = ImageOps.contain(opaque, size, Image.Resampling.LANCZOS)
            paper = Image.new(opaque.mode, size, layout.background)
            paper.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
            opaque = paper
        else:
            opaque = ImageOps.fit(opaque, size, Image.Resampling.LANCZOS)
    image_format = FORMATS[layout.format]
    options: dict[str, object] = {"dpi": (layout.dpi, layout.dpi)}
    if image_format in ("JPEG", "WEBP"):
        options["quality"] = layout.quality
    buffer = io.BytesIO()
    opaque.save(buffer, image_format, **options)
    return buffer.getvalue(), image_format
