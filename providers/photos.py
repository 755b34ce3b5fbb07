"""The guest's photo as a provider should get it: upright, and no larger than it needs.

AI providers gain nothing from more pixels than they work with (about 1 to 2 K), and a 24 MP photo
costs seconds to upload and bills more. A JPEG is shrunk by its own decoder, which can scale by
1/2, 1/4 or 1/8 while decoding: the coarsest scale that keeps the long side at least MIN_SIDE
needs no resampling at all (a 24 MP photo: 1500 px in ~60 ms, where decoding at half size and
resampling to 2048 px took ~230 ms). Other formats are decoded whole and resampled.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageOps

from media.images import CONTENT_TYPES, flattened
from providers.base import ProviderInputError

MAX_SIDE = 2048
MIN_SIDE = 1024
JPEG_QUALITY = 90
_DECODER_SCALES = (8, 4, 2)


def photo_for_provider(path: Path, orientation: int) -> tuple[bytes, str]:
    """The photo's bytes and content type: as they are when already upright and small enough,
    else re-encoded as JPEG with the long side between MIN_SIDE and MAX_SIDE."""
    try:
        with Image.open(path, formats=list(CONTENT_TYPES)) as image:
            if max(image.size) <= MAX_SIDE and orientation == 1:
                return path.read_bytes(), CONTENT_TYPES[image.format]
            return _reencoded(image), CONTENT_TYPES["JPEG"]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        # The error text may name the temporary file; the booth must not see our paths.
        raise ProviderInputError("the photo cannot be decoded") from None


def _reencoded(image: Image.Image) -> bytes:
    if image.format == "JPEG":
        long_side = max(image.size)
        scale = next((s for s in _DECODER_SCALES if long_side / s >= MIN_SIDE), 1)
        image.draft("RGB", (math.ceil(image.width / scale), math.ceil(image.height / scale)))
    icc_profile = image.info.get("icc_profile")
    if max(image.size) > MAX_SIDE:
        # Bicubic is a third faster than Lanczos here, and the model does not see the difference.
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BICUBIC)
    # Turned upright after shrinking: rotating fewer pixels is cheaper.
    upright = flattened(ImageOps.exif_transpose(image))
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=JPEG_QUALITY, icc_profile=icc_profile)
    return buffer.getvalue()
