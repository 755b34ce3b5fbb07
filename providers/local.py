"""The offline provider: Pillow only, for demos, tests and as a last resort.

A 24 MP photo is 96 MB decoded in RGB, and image work runs on every core at once, so each
operation keeps at most one full-size colour copy alive: grey effects decode a JPEG straight to
grey (24 MB), sepia colours it through a palette, and posterize and frame work on the photo in
place, a band of rows at a time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from typing import Annotated, Literal, get_args

from django.utils.translation import gettext
from PIL import Image, ImageColor, ImageOps
from pydantic import Field

from media.images import WHITE, flattened, open_upright
from photochanger.executors import run_image_work
from providers.base import (
    ProviderError,
    ProviderInputError,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.settings import ProviderSettings, text_or_default, whole_number, worded

OutputFormat = Literal["jpeg", "png", "webp"]
# Pillow's names of the formats.
OUTPUT_FORMATS = {name: name.upper() for name in get_args(OutputFormat)}
_SEPIA_DARK = "#2b1d0e"
_SEPIA_LIGHT = "#fbeccd"
# Rows per band of the in-place work: 12 MB of RGBA at 6000 px wide.
_BAND_ROWS = 512


def _bits_problem(bits: object) -> str:
    return gettext("bits must be a whole number from 1 to 8.")


def _quality_problem(quality: object) -> str:
    return gettext("quality must be a whole number from 1 to 100.")


def _output_format_problem(output_format: object) -> str:
    return gettext("output_format must be jpeg, png or webp.")


def _background_color_problem(color: object) -> str:
    return gettext("background_color must be a colour written as #rrggbb, e.g. #ffffff.")


def _format_name(value: object) -> object:
    return value if value is None else str(value).lower()


_Bits = whole_number(1, 8, _bits_problem)
_Quality = whole_number(1, 100, _quality_problem)


class LocalSettings(ProviderSettings):
    provider = "local"
    # Pillow can always make something: no wrong setting stops a demo.
    lenient = frozenset({"bits", "quality", "output_format", "background_color"})

    bits: _Bits = Field(3, description="Bits kept per colour channel by posterize")
    quality: _Quality = Field(90, description="The JPEG or WebP quality of the result")
    output_format: Annotated[
        OutputFormat | None, worded(_output_format_problem, normalised=_format_name)
    ] = Field(
        None,
        description="The result's file format, empty for the photo's own (passthrough) or jpeg",
    )
    background_color: Annotated[
        str,
        Field(pattern=r"^#[0-9a-f]{6}$"),
        worded(_background_color_problem, normalised=lambda value: text_or_default(value).lower()),
    ] = Field(
        WHITE,
        description="The colour (#rrggbb) shown where a photo is transparent, once it has none "
        "(a JPEG result, an effect); white when empty",
    )


def _grayscale(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    return image if image.mode == "L" else ImageOps.grayscale(image)


def _sepia_palette() -> list[int]:
    # The ramp ImageOps.colorize draws from dark to light, as one palette entry per grey level.
    dark, light = ImageColor.getrgb(_SEPIA_DARK), ImageColor.getrgb(_SEPIA_LIGHT)
    return [
        dark[channel] + (light[channel] - dark[channel]) * level // 255
        for level in range(256)
        for channel in range(3)
    ]


_SEPIA_PALETTE = _sepia_palette()


def _sepia(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    # A palette over the grey levels keeps one byte a pixel until the encoder needs colour;
    # ImageOps.colorize made two RGB copies (192 MB for 24 MP).
    sepia = _grayscale(image, request, options)
    sepia.putpalette(_SEPIA_PALETTE)
    return sepia


def _posterize(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    # In place, a band of rows at a time: a second whole copy would be 96 MB at 24 MP.
    for band in _bands(image.size):
        image.paste(ImageOps.posterize(image.crop(band), options.bits), band)
    return image


def _frame(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    overlays = request.templates_with_role("overlay")
    if not overlays:
        raise ProviderError("the frame operation needs an overlay template image on the slot")
    try:
        with Image.open(io.BytesIO(_overlay_for(overlays, image.size).data)) as overlay:
            rgba = overlay if overlay.mode == "RGBA" else overlay.convert("RGBA")
            # Premultiplied, as Pillow resamples RGBA; converted once here, not per band.
            premultiplied = rgba.convert("RGBa")
    except (OSError, SyntaxError, ValueError):
        raise ProviderError("the slot's overlay template image cannot be decoded") from None
    _lay_over(image, premultiplied)
    return image


def _overlay_for(overlays: list[TemplateImageInput], size: tuple[int, int]) -> TemplateImageInput:
    """The overlay whose aspect ratio is closest to the photo's (a portrait one for a portrait
    photo); of equals, the one uploaded last."""
    photo_aspect = size[0] / size[1]

    def distance(overlay: TemplateImageInput) -> float:
        try:
            with Image.open(io.BytesIO(overlay.data)) as header:
                width, height = header.size
        except (OSError, SyntaxError, ValueError):
            return math.inf
        return abs(math.log(width / height / photo_aspect))

    return min(reversed(overlays), key=distance)


def _lay_over(photo: Image.Image, overlay: Image.Image) -> None:
    """Lay ``overlay`` (premultiplied RGBa) over ``photo``, scaled to cover it with its own
    aspect ratio, centred, the excess cut off. Scaled a band of rows at a time: a whole scaled
    copy of the overlay would be another 96 MB at 24 MP."""
    scale = max(photo.width / overlay.width, photo.height / overlay.height)
    # The part of the overlay that covers the photo, in the overlay's pixels.
    left = max(0.0, (overlay.width - photo.width / scale) / 2)
    right = min(float(overlay.width), left + photo.width / scale)
    top = max(0.0, (overlay.height - photo.height / scale) / 2)
    for band in _bands(photo.size):
        source = (
            left,
            top + band[1] / scale,
            right,
            min(float(overlay.height), top + band[3] / scale),
        )
        size = (photo.width, band[3] - band[1])
        scaled = overlay.resize(size, Image.Resampling.LANCZOS, box=source).convert("RGBA")
        photo.paste(scaled, band, scaled)


def _bands(size: tuple[int, int]) -> Iterator[tuple[int, int, int, int]]:
    width, height = size
    for top in range(0, height, _BAND_ROWS):
        yield (0, top, width, min(height, top + _BAND_ROWS))


def _passthrough(
    image: Image.Image, request: ProviderRequest, options: LocalSettings
) -> Image.Image:
    return image


_Operation = Callable[[Image.Image, ProviderRequest, LocalSettings], Image.Image]
_OPERATIONS: dict[str, _Operation] = {
    "passthrough": _passthrough,
    "grayscale": _grayscale,
    "sepia": _sepia,
    "posterize": _posterize,
    "frame": _frame,
}
# The mode each operation wants the photo decoded in (empty: as it is, transparency kept).
_DECODE_MODES = {"grayscale": "L", "sepia": "L", "posterize": "RGB", "frame": "RGB"}


class LocalProvider:
    name = "local"
    operations = tuple(_OPERATIONS)
    needs_public_urls = False
    needs_api_key = False
    settings_model = LocalSettings

    def uses_template_images(self, operation: str) -> bool:
        return operation == "frame"

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        return ("overlay",) if operation == "frame" else ()

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        # Shown to staff on the slot page: worded in their language when asked.
        problems = {}
        if operation not in _OPERATIONS:
            problems[""] = gettext("The local provider can do: %(operations)s.") % {
                "operations": ", ".join(_OPERATIONS)
            }
        return problems | LocalSettings.problems(settings, operation=operation)

    async def process(self, request: ProviderRequest) -> ProviderResult:
        operation = _OPERATIONS.get(request.operation)
        if operation is None:
            raise ProviderError(f"the local provider has no operation {request.operation!r}")
        if request.operation == "passthrough" and request.photo_orientation == 1:
            # Upright already: the photo as it came is the result, no decode, no re-encode.
            return ProviderResult(format=request.photo_format, photo_unchanged=True)
        options = LocalSettings.for_call(request.settings, operation=request.operation)
        return await run_image_work(_apply, operation, request, options)


def _apply(
    operation: _Operation, request: ProviderRequest, options: LocalSettings
) -> ProviderResult:
    try:
        image = open_upright(
            request.photo_path,
            mode=_DECODE_MODES.get(request.operation, ""),
            background=options.background_color,
        )
    except (OSError, SyntaxError, ValueError) as error:
        raise ProviderInputError(f"the photo cannot be decoded: {error}") from None
    with image:
        result = operation(image, request, options)
        output_format = _output_format(request, options)
        if output_format == "JPEG":
            result = flattened(result, background=options.background_color)
        buffer = io.BytesIO()
        result.save(buffer, output_format, quality=options.quality)
    return ProviderResult(format=output_format, data=buffer.getvalue())


def _output_format(request: ProviderRequest, options: LocalSettings) -> str:
    if options.output_format:
        return OUTPUT_FORMATS[options.output_format]
    # passthrough keeps the photo's own format; the effects default to JPEG.
    return request.photo_format if request.operation == "passthrough" else "JPEG"
