"""What an image file is, decided from its own bytes, cheaply enough for the ingest hot path.

A full decode of a 24 MP JPEG takes ~180 ms, more than everything else the booth waits for, so an
upload is checked structurally instead: Pillow reads the header (format, size, EXIF), a JPEG must
end with its EOI marker after the image data begins (a truncated file does not), a PNG's chunks are
walked with their CRCs up to IEND, and a WebP's RIFF length must fit the file. Providers that
decode the photo report any remaining damage as ``ProviderInputError``.

Decoding is the other half: ``open_upright`` for the effects, and ``flattened``, the one way our
code turns an image with transparency into one without (for JPEG, for a thumbnail): laid over a
background colour, where a plain ``convert("RGB")`` shows what is stored under transparent
pixels, which is mostly black.
"""

from __future__ import annotations

import io
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.utils.translation import gettext_noop
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from photochanger.errors import UnsupportedMediaType

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# 100 MP is beyond any camera a booth uses; a larger image is a decompression bomb.
MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow warns between 1x and 2x the limit (and raises beyond); we refuse anything over 1x.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
# Pillow feeds its decoders 64 KiB at a time and takes the GIL back between blocks; while the
# event loop is busy each block then waits out a thread switch interval (5 ms). Shrinking a 5 MB
# JPEG for Gemini took 720 ms next to a busy Python thread in 64 KiB blocks, 115 ms in 4 MiB
# ones (97 ms alone). The block is a temporary read buffer, not kept.
ImageFile.MAXBLOCK = 4 * 1024 * 1024

WHITE = "#ffffff"
# Modes whose pixels carry their own opacity; any mode may also name one transparent colour
# (a PNG's tRNS chunk), which Pillow keeps in ``info["transparency"]``.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_JPEG_EOI = b"\xff\xd9"
_TAIL_BYTES = 64 * 1024
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class PhotoInfo:
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int
    orientation: int  # EXIF orientation, 1 when absent

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def photo_inspect(path: Path) -> PhotoInfo:
    """Describe the photo at ``path``; raise UnsupportedMediaType unless it is a whole JPEG,
    PNG or WebP of a sane size.

    The details stay English (the booth's answer); they are only marked for translation so the
    admin can word them in the staff member's language when a template image is refused.
    """
    try:
        with Image.open(path, formats=list(CONTENT_TYPES)) as image:
            info = PhotoInfo(
                format=image.format,
                width=image.width,
                height=image.height,
                orientation=_orientation(image),
            )
            if info.width * info.height > MAX_PIXELS:
                raise UnsupportedMediaType(gettext_noop("the image has too many pixels"))
        if info.format == "PNG":
            # verify() must come straight after open; it walks every chunk and its CRC.
            with Image.open(path, formats=["PNG"]) as image:
                image.verify()
    except UnidentifiedImageError:
        not_an_image = gettext_noop("the file is not a JPEG, PNG or WebP image")
        raise UnsupportedMediaType(not_an_image) from None
    except Image.DecompressionBombError:
        raise UnsupportedMediaType(gettext_noop("the image has too many pixels")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UnsupportedMediaType(f"the image is damaged: {error}") from None
    if info.format == "JPEG" and not _jpeg_is_whole(path):
        raise UnsupportedMediaType(gettext_noop("the JPEG image is truncated"))
    if info.format == "WEBP" and not _riff_is_whole(path):
        raise UnsupportedMediaType(gettext_noop("the WebP image is truncated"))
    return info


def image_format(data: bytes) -> str:
    """Pillow's format name for image bytes a provider sent; ValueError when not an image."""
    try:
        with Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES)) as image:
            return image.format
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError("not a JPEG, PNG or WebP image") from error


def open_upright(path: Path, *, mode: str = "", background: str = WHITE) -> Image.Image:
    """Decode the photo with its EXIF orientation applied to the pixels.

    With ``mode`` ("RGB" or "L") the photo comes opaque in that mode, ``flattened`` over
    ``background``. A JPEG is then decoded straight into it: to L, the decoder skips the colour
    and the photo takes a quarter of the memory (24 MB instead of 96 for 24 MP).
    """
    image = Image.open(path, formats=list(CONTENT_TYPES))
    if mode:
        image.draft(mode, None)  # only a JPEG's decoder can; other formats ignore it
    image.load()
    # In place: without it exif_transpose copies even an upright photo (another 96 MB).
    ImageOps.exif_transpose(image, in_place=True)
    if not mode:
        return image
    opaque = flattened(image, background=background)
    return opaque if opaque.mode == mode else opaque.convert(mode)


def flattened(image: Image.Image, *, background: str = WHITE) -> Image.Image:
    """``image`` in RGB or L, the modes a JPEG holds, with any transparency laid over
    ``background`` (a colour as Pillow reads it, e.g. "#rrggbb"). An opaque RGB or L image
    comes back as it is, not copied."""
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        opaque = Image.new("RGB", image.size, background)
        # Pasted through its own alpha, an RGBA image is blended with what lies under it.
        opaque.paste(rgba, mask=rgba)
        return opaque
    if image.mode in ("RGB", "L"):
        return image
    return image.convert("RGB")


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, SyntaxError, OSError):
        return 1  # an unreadable EXIF block does not make the photo unusable


def _jpeg_is_whole(path: Path) -> bool:
    # Entropy-coded data cannot contain FF D9, so an EOI after the start of the image data
    # means the file is whole. It is normally in the last bytes; some cameras append data.
    with path.open("rb") as file:
        scan_start = _jpeg_scan_start(file)
        if scan_start is None:
            return False
        size = file.seek(0, io.SEEK_END)
        tail_start = max(scan_start, size - _TAIL_BYTES)
        file.seek(tail_start)
        if file.read().rfind(_JPEG_EOI) >= 0:
            return True
        if tail_start == scan_start:
            return False
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as whole:
            return whole.find(_JPEG_EOI, scan_start) >= 0


def _jpeg_scan_start(file: BinaryIO) -> int | None:
    """Where the first scan's data begins: after the SOS segment. The segments before it
    (EXIF with its own thumbnail, tables) are skipped by their lengths."""
    file.seek(2)  # after SOI
    while True:
        marker = file.read(2)
        while marker[:1] == b"\xff" and marker[1:2] == b"\xff":  # fill bytes
            marker = marker[1:] + file.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length_bytes = file.read(2)
        if len(length_bytes) < 2:
            return None
        length = int.from_bytes(length_bytes, "big")
        if marker[1] == 0xDA:  # SOS
            return file.tell() + length - 2
        file.seek(length - 2, io.SEEK_CUR)


def _riff_is_whole(path: Path) -> bool:
    with path.open("rb") as file:
        header = file.read(12)
        size = file.seek(0, io.SEEK_END)
    return len(header) == 12 and int.from_bytes(header[4:8], "little") + 8 <= size
