"""Results shaped for the booth's printer: a paper size in pixels, a fit, the DPI, a format.

AI providers answer 1024 px squares or whatever aspect they like; a booth prints 4x6 in, 5x7 in,
2x6 in strips or squares. A slot's ``output`` block (slots.output) says which; this module
only does the pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from media.images import WHITE, flattened
from media.people import people_focus
from media.stamps import qr_stamped

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
DEFAULT_QUALITY = 92


@dataclass(frozen=True)
class PrintLayout:
    width: int | None  # None: as the provider answered
    height: int | None
    # "crop": fill the paper, centred, the excess cut off; "crop-faces": the same, kept on the
    # people's faces (media.people); "contain": all of it, on bands of the background.
    fit: str
    background: str  # the bands' colour, and what transparency is laid on
    dpi: int
    format: str  # "jpeg", "png" or "webp"
    quality: int


@dataclass(frozen=True)
class GuestQr:
    """The guest page's code to stamp on the print (media.stamps)."""

    url: str
    corner: str
    caption: str = ""


def print_ready(
    data: bytes, layout: PrintLayout | None, *, qr: GuestQr | None = None
) -> tuple[bytes, str]:
    """The image in ``data`` laid out for print (when ``layout``) and stamped with the guest's
    code (when ``qr``), decoded and encoded once; and its Pillow format name. Without a layout
    a PNG or WebP keeps its format and anything else becomes a JPEG. Transparency (a cutout)
    stays in a PNG or WebP and is laid on the layout's background in a JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        source_format = image.format
        if layout is not None:
            image_format = FORMATS[layout.format]
        else:
            image_format = source_format if source_format in ("PNG", "WEBP") else "JPEG"
        if layout is not None and layout.width and layout.height:
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale when that still covers the paper (either
            # way up): a 24 MP photo for a 4x6 print decodes at 6 MP, in a third of the time.
            side = max(layout.width, layout.height)
            image.draft("RGB", (side, side))
        # Turned upright for good: the print has no EXIF orientation left to misread.
        upright = ImageOps.exif_transpose(image)
        profile = image.info.get("icc_profile")
        if image_format != "JPEG" and upright.has_transparency_data:
            picture = upright.convert("RGBA")
        else:
            picture = flattened(upright, background=layout.background if layout else WHITE)
    if layout is not None:
        picture = _laid_out(picture, layout, profile=profile)
    if qr is not None:
        picture = qr_stamped(picture, url=qr.url, corner=qr.corner, caption=qr.caption)[0]
    options: dict[str, object] = {"quality": layout.quality if layout else DEFAULT_QUALITY}
    if layout is not None:
        options["dpi"] = (layout.dpi, layout.dpi)
    if image_format == "PNG":
        options.pop("quality")
    buffer = io.BytesIO()
    picture.save(buffer, image_format, **options)
    return buffer.getvalue(), image_format


def _laid_out(image: Image.Image, layout: PrintLayout, *, profile: bytes | None) -> Image.Image:
    if profile and image.mode in ("RGB", "RGBA"):
        # Printers and their drivers assume sRGB: an Adobe RGB photo would print dull.
        image = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            ImageCms.createProfile("sRGB"),
            outputMode=image.mode,
        )
    if not (layout.width and layout.height):
        return image
    size = (layout.width, layout.height)
    if layout.fit == "crop":
        return ImageOps.fit(image, size, Image.Resampling.LANCZOS)
    if layout.fit == "crop-faces":
        centering = _centering_on(people_focus(image), image.size, size)
        return ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=centering)
    fitted = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    paper = Image.new(image.mode, size, layout.background)
    paper.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return paper


def _centering_on(
    focus: tuple[float, float] | None, image_size: tuple[int, int], size: tuple[int, int]
) -> tuple[float, float]:
    """ImageOps.fit's centering that puts ``focus`` (fractions of the image) as near the middle
    of the crop as the image allows; the middle when there is no focus (no one in the photo)."""
    if focus is None:
        return 0.5, 0.5
    image_aspect, paper_aspect = image_size[0] / image_size[1], size[0] / size[1]
    # The share of the image the crop keeps, across and down (one of them is 1: nothing to move).
    kept = (
        (paper_aspect / image_aspect, 1.0)
        if image_aspect > paper_aspect
        else (1.0, image_aspect / paper_aspect)
    )
    return tuple(
        0.5 if share >= 1 else min(1.0, max(0.0, (point - share / 2) / (1 - share)))
        for point, share in zip(focus, kept, strict=True)
    )
