"""The offline provider: Pillow only, for demos, tests and as a last resort."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Literal, get_args

from django.utils.translation import gettext
from PIL import Image, ImageOps
from pydantic import Field

from media.images import open_upright
from photochanger.executors import run_image_work
from providers.base import ProviderError, ProviderInputError, ProviderRequest, ProviderResult
from providers.settings import ProviderSettings, whole_number, worded

OutputFormat = Literal["jpeg", "png", "webp"]
# Pillow's names of the formats.
OUTPUT_FORMATS = {name: name.upper() for name in get_args(OutputFormat)}
_SEPIA_DARK = "#2b1d0e"
_SEPIA_LIGHT = "#fbeccd"


def _bits_problem(bits: object) -> str:
    return gettext("bits must be a whole number from 1 to 8.")


def _quality_problem(quality: object) -> str:
    return gettext("quality must be a whole number from 1 to 100.")


def _output_format_problem(output_format: object) -> str:
    return gettext("output_format must be jpeg, png or webp.")


def _format_name(value: object) -> object:
    return value if value is None else str(value).lower()


_Bits = whole_number(1, 8, _bits_problem)
_Quality = whole_number(1, 100, _quality_problem)


class LocalSettings(ProviderSettings):
    provider = "local"
    # Pillow can always make something: no wrong setting stops a demo.
    lenient = frozenset({"bits", "quality", "output_format"})

    bits: _Bits = Field(3, description="Bits kept per colour channel by posterize")
    quality: _Quality = Field(90, description="The JPEG or WebP quality of the result")
    output_format: Annotated[
        OutputFormat | None, worded(_output_format_problem, normalised=_format_name)
    ] = Field(
        None,
        description="The result's file format, empty for the photo's own (passthrough) or jpeg",
    )


def _grayscale(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    return ImageOps.grayscale(image)


def _sepia(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(image), _SEPIA_DARK, _SEPIA_LIGHT)


def _posterize(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    return ImageOps.posterize(image.convert("RGB"), options.bits)


def _frame(image: Image.Image, request: ProviderRequest, options: LocalSettings) -> Image.Image:
    overlays = request.templates_with_role("overlay")
    if not overlays:
        raise ProviderError("the frame operation needs an overlay template image on the slot")
    with Image.open(io.BytesIO(overlays[-1].data)) as overlay:
        overlay = overlay.convert("RGBA").resize(image.size, Image.Resampling.LANCZOS)
    framed = image.convert("RGBA")
    framed.alpha_composite(overlay)
    return framed.convert("RGB")


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


class LocalProvider:
    name = "local"
    operations = tuple(_OPERATIONS)
    needs_public_urls = False
    settings_model = LocalSettings

    def uses_template_images(self, operation: str) -> bool:
        return operation == "frame"

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
        image = open_upright(request.photo_path)
    except (OSError, SyntaxError, ValueError) as error:
        raise ProviderInputError(f"the photo cannot be decoded: {error}") from None
    with image:
        result = operation(image, request, options)
        output_format = _output_format(request, options)
        if output_format == "JPEG" and result.mode not in ("RGB", "L"):
            result = result.convert("RGB")
        buffer = io.BytesIO()
        result.save(buffer, output_format, quality=options.quality)
    return ProviderResult(format=output_format, data=buffer.getvalue())


def _output_format(request: ProviderRequest, options: LocalSettings) -> str:
    if options.output_format:
        return OUTPUT_FORMATS[options.output_format]
    # passthrough keeps the photo's own format; the effects default to JPEG.
    return request.photo_format if request.operation == "passthrough" else "JPEG"
