"""The guest page's QR code stamped on a result, for the booth to print.

Booth software prints the image we answer and, as far as its documentation goes, reads none of
our headers: a code on the print is the guest's only way to the result page without staff.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno
from PIL import Image, ImageDraw, ImageFont

from media.images import flattened

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
# The code's side, as a share of the photo's shorter side: on a 4x6 in print, about 2.5 cm,
# which a phone reads from arm's length.
QR_SHARE = 0.18
MARGIN_SHARE = 0.03
QUIET_MODULES = 2  # white around the code, so it reads on a dark photo


@dataclass(frozen=True)
class StampLayout:
    """Where the code went: its top-left pixel and the size of one module."""

    left: int
    top: int
    module: int


def qr_stamped(
    image: Image.Image, *, url: str, corner: str, caption: str = ""
) -> tuple[Image.Image, StampLayout]:
    """``image`` with a QR code of ``url`` (and ``caption`` under it) in ``corner``."""
    code = segno.make(url, error="m")
    modules = code.symbol_size(scale=1, border=0)[0]
    module = max(2, round(min(image.size) * QR_SHARE / modules))
    side = (modules + 2 * QUIET_MODULES) * module
    font = ImageFont.load_default(size=max(12, module * 3))
    caption_height = 0
    if caption:
        box = font.getbbox(caption)
        caption_height = box[3] - box[1] + 2 * module
    width = max(side, font.getbbox(caption)[2] + 2 * module if caption else 0)
    margin = round(min(image.size) * MARGIN_SHARE)
    left = margin if corner.endswith("left") else image.width - margin - width
    top = margin if corner.startswith("top") else image.height - margin - side - caption_height
    # A cutout keeps its transparency around the code's opaque white card.
    stamped = image.copy() if image.mode == "RGBA" else flattened(image).convert("RGB")
    draw = ImageDraw.Draw(stamped)
    draw.rectangle((left, top, left + width - 1, top + side + caption_height - 1), fill="white")
    code_left = left + (width - side) // 2 + QUIET_MODULES * module
    code_top = top + QUIET_MODULES * module
    for row, line in enumerate(code.matrix):
        for column, dark in enumerate(line):
            if dark:
                x, y = code_left + column * module, code_top + row * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill="black")
    if caption:
        draw.text(
            (left + width // 2, top + side + module // 2),
            caption,
            fill="black",
            font=font,
            anchor="ma",
        )
    return stamped, StampLayout(left=code_left, top=code_top, module=module)
