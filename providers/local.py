"""The offline provider: Pillow only, for demos, tests and as a last resort.

A 24 MP photo is 96 MB decoded in RGB, and image work runs on every core at once, so each
operation keeps at most one full-size colour copy alive: grey effects decode a JPEG straight to
grey (24 MB), sepia colours it through a palette, and posterize and frame work on the photo in
place, a band of rows at a time.

``background`` and ``cutout`` find the people with MediaPipe's selfie segmentation
(media.people): the first lays them on the slot's ``background`` template image (or its
``background_color``), the second keeps them on transparency, as a PNG.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator
from typing import Annotated, Literal, get_args

from django.utils.translation import gettext
from PIL import Image, ImageColor, ImageOps
from pydantic import Field

from media.images import WHITE, flattened, open_upright
from media.people import SegmentationUnavailable, person_mask, segmentation_available
from photochanger.executors import run_image_work
from providers.base import (
    ProviderError,
    ProviderInputError,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.settings import (
    MIN_SECONDS_HELP,
    MinSeconds,
    ProviderSettings,
    text_or_default,
    whole_number,
    worded,
)

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
        description="The colour (#rrggbb) behind the people in background without a background "
        "template image, and where a photo is transparent once it has none (a JPEG result, an "
        "effect); white when empty",
    )
    # A 24 MP background replacement takes ~1 s (bench/people.py).
    min_seconds: MinSeconds = Field(2, description=MIN_SECONDS_HELP)


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
    with _decoded_template(_closest_in_shape(overlays, image.size), "overlay") as overlay:
        rgba = overlay if overlay.mode == "RGBA" else overlay.convert("RGBA")
        # Premultiplied, as Pillow resamples RGBA; converted once here, not per band.
        premultiplied = rgba.convert("RGBa")
    for band, scaled in _covering_bands(image.size, premultiplied):
        scaled = scaled.convert("RGBA")
        image.paste(scaled, band, scaled)
    return image


def _background(
    image: Image.Image, request: ProviderRequest, options: LocalSettings
) -> Image.Image:
    """The people kept, everything else replaced by the slot's ``background`` template image
    (scaled to cover the photo, never stretched) or, without one, its background colour."""
    behind = _person_mask(image)
    backgrounds = request.templates_with_role("background")
    if not backgrounds:
        for band in _bands(image.size):
            image.paste(options.background_color, band, ImageOps.invert(behind.crop(band)))
        return image
    with _decoded_template(_closest_in_shape(backgrounds, image.size), "background") as picture:
        opaque = flattened(picture, background=options.background_color)
        opaque = opaque if opaque.mode == "RGB" else opaque.convert("RGB")
    for band, scaled in _covering_bands(image.size, opaque):
        image.paste(scaled, band, ImageOps.invert(behind.crop(band)))
    return image


def _cutout(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    """The people on transparency (a PNG unless the slot asks for another format)."""
    mask = _person_mask(image)
    # What no one will see made black: a 24 MP PNG comes out a third smaller (bench/people.py).
    image.paste((0, 0, 0), None, mask.point(lambda level: 255 if level == 0 else 0))
    image.putalpha(mask)
    return image


def _person_mask(image: Image.Image) -> Image.Image:
    try:
        return person_mask(image)
    except SegmentationUnavailable as error:
        raise ProviderError(str(error)) from None


@contextlib.contextmanager
def _decoded_template(template: TemplateImageInput, role: str) -> Iterator[Image.Image]:
    try:
        picture = Image.open(io.BytesIO(template.data))
        picture.load()
    except (OSError, SyntaxError, ValueError):
        raise ProviderError(f"the slot's {role} template image cannot be decoded") from None
    with picture:
        yield picture


def _closest_in_shape(
    templates: list[TemplateImageInput], size: tuple[int, int]
) -> TemplateImageInput:
    """The template image whose aspect ratio is closest to the photo's (a portrait one for a
    portrait photo); of equals, the one uploaded last."""
    photo_aspect = size[0] / size[1]

    def distance(template: TemplateImageInput) -> float:
        try:
            with Image.open(io.BytesIO(template.data)) as header:
                width, height = header.size
        except (OSError, SyntaxError, ValueError):
            return math.inf
        return abs(math.log(width / height / photo_aspect))

    return min(reversed(templates), key=distance)


def _covering_bands(
    size: tuple[int, int], picture: Image.Image
) -> Iterator[tuple[tuple[int, int, int, int], Image.Image]]:
    """``picture`` scaled to cover a photo of ``size`` with its own aspect ratio, centred, the
    excess cut off: each band of the photo's rows with its part of the scaled picture. A band
    at a time, since a whole scaled copy would be another 96 MB at 24 MP."""
    width, height = size
    scale = max(width / picture.width, height / picture.height)
    # The part of the picture that covers the photo, in the picture's pixels.
    left = max(0.0, (picture.width - width / scale) / 2)
    right = min(float(picture.width), left + width / scale)
    top = max(0.0, (picture.height - height / scale) / 2)
    for band in _bands(size):
        source = (
            left,
            top + band[1] / scale,
            right,
            min(float(picture.height), top + band[3] / scale),
        )
        band_size = (width, band[3] - band[1])
        yield band, picture.resize(band_size, Image.Resampling.LANCZOS, box=source)


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
    "background": _background,
    "cutout": _cutout,
}
# The mode each operation wants the photo decoded in (empty: as it is, transparency kept).
_DECODE_MODES = {
    "grayscale": "L",
    "sepia": "L",
    "posterize": "RGB",
    "frame": "RGB",
    "background": "RGB",
    "cutout": "RGB",
}
_PEOPLE_OPERATIONS = frozenset({"background", "cutout"})


class LocalProvider:
    name = "local"
    operations = tuple(_OPERATIONS)
    needs_public_urls = False
    needs_api_key = False
    settings_model = LocalSettings

    def uses_template_images(self, operation: str) -> bool:
        return operation in ("frame", "background")

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        return ("overlay",) if operation == "frame" else ()

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        # Shown to staff on the slot page: worded in their language when asked.
        problems = {}
        if operation not in _OPERATIONS:
            problems[""] = gettext("The local provider can do: %(operations)s.") % {
                "operations": ", ".join(_OPERATIONS)
            }
        elif operation in _PEOPLE_OPERATIONS and not segmentation_available():
            problems[""] = gettext(
                "The “%(operation)s” operation finds people with the mediapipe package, which "
                "this server lacks (it installs on Python 3.11 and 3.12)."
            ) % {"operation": operation}
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
        result.save(buffer, output_format, **_encoder_options(output_format, options))
    return ProviderResult(format=output_format, data=buffer.getvalue())


def _encoder_options(output_format: str, options: LocalSettings) -> dict[str, int]:
    if output_format == "PNG":
        # zlib's fastest level: a 24 MP cutout encodes in 1.8 s instead of 6.5 s (bench/people.py)
        # for a file a third larger (11 MB instead of 8), which the booth's link takes less time
        # to carry than the 4.7 s saved.
        return {"compress_level": 1}
    return {"quality": options.quality}


def _output_format(request: ProviderRequest, options: LocalSettings) -> str:
    if options.output_format:
        return OUTPUT_FORMATS[options.output_format]
    # passthrough keeps the photo's own format; a cutout keeps its transparency in a PNG; the
    # effects default to JPEG.
    if request.operation == "passthrough":
        return request.photo_format
    return "PNG" if request.operation == "cutout" else "JPEG"
