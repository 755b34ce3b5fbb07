"""A slot's ``output`` block: the print every result is laid out for (media.prints).

In the slot's settings, for any provider::

    {"output": {"size": "4x6-portrait", "fit": "crop", "format": "jpeg", "quality": 92}}

``size`` is a preset (below), ``{"width": W, "height": H}`` in pixels, or ``as-answered``;
``fit`` is ``crop`` (fill the paper, centred), ``crop-faces`` (fill it, kept on the people's
faces) or ``contain`` (all of the image, with bands of ``background``); ``dpi`` defaults to
300; ``original`` true lays out the guest's own photo too when the slot answers it
(``on_failure = original``).
"""

from __future__ import annotations

import re

from django.utils.translation import gettext

from media.people import segmentation_available
from media.prints import FORMATS, PrintLayout

# Pixels at 300 dpi.
SIZES = {
    "4x6-portrait": (1200, 1800),
    "4x6-landscape": (1800, 1200),
    "5x7-portrait": (1500, 2100),
    "5x7-landscape": (2100, 1500),
    "2x6-strip": (600, 1800),
    "square": (1800, 1800),
    "as-answered": (None, None),
}
FITS = ("crop", "crop-faces", "contain")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_KEYS = {"size", "fit", "background", "dpi", "format", "quality", "original"}


def output_problems(settings: dict) -> dict[str, str]:
    """What is wrong with the slot's ``output`` block, by setting name; empty when none."""
    output = settings.get("output")
    if output is None:
        return {}
    if not isinstance(output, dict):
        return {"output": gettext("output must be a JSON object.")}
    problems = []
    if unknown := set(output) - _KEYS:
        problems.append(
            gettext("output has no setting %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    size = output.get("size", "as-answered")
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if not all(isinstance(side, int) and 64 <= side <= 10000 for side in (width, height)):
            problems.append(gettext("A size's width and height are whole pixels, 64 to 10000."))
    elif size not in SIZES:
        problems.append(
            gettext('The size must be one of %(choices)s, or {"width": …, "height": …}.')
            % {"choices": ", ".join(SIZES)}
        )
    fit = output.get("fit", "crop")
    if fit not in FITS:
        problems.append(gettext("The fit must be crop, crop-faces or contain."))
    elif fit == "crop-faces" and not segmentation_available():
        problems.append(
            gettext(
                "crop-faces finds people with the mediapipe package, which this server lacks "
                "(it installs on Python 3.11 and 3.12); use crop."
            )
        )
    if not _COLOUR.fullmatch(str(output.get("background", "#ffffff"))):
        problems.append(gettext("The background is a colour written as #rrggbb."))
    dpi = output.get("dpi", 300)
    if not isinstance(dpi, int) or not 72 <= dpi <= 1200:
        problems.append(gettext("The dpi is a whole number from 72 to 1200."))
    if output.get("format", "jpeg") not in FORMATS:
        problems.append(gettext("The format must be jpeg, png or webp."))
    quality = output.get("quality", 92)
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        problems.append(gettext("The quality is a whole number from 1 to 100."))
    if not isinstance(output.get("original", False), bool):
        problems.append(gettext("original is true or false."))
    return {"output": " ".join(problems)} if problems else {}


def output_layout(settings: dict) -> PrintLayout | None:
    """The slot's print layout, or None when it has no (valid) output block."""
    output = settings.get("output")
    if not isinstance(output, dict) or output_problems(settings):
        return None
    size = output.get("size", "as-answered")
    width, height = (size["width"], size["height"]) if isinstance(size, dict) else SIZES[size]
    return PrintLayout(
        width=width,
        height=height,
        fit=output.get("fit", "crop"),
        background=output.get("background", "#ffffff"),
        dpi=output.get("dpi", 300),
        format=output.get("format", "jpeg"),
        quality=output.get("quality", 92),
    )


def output_for_original(settings: dict) -> bool:
    """Whether the guest's own photo, when the slot answers it, is laid out too."""
    output = settings.get("output")
    return isinstance(output, dict) and output.get("original") is True
