"""The offline provider: Pillow only, for demos, tests and as a last resort."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.utils.translation import gettext
from PIL import Image, ImageOps

from media.images import open_upright
from photochanger.executors import run_image_work
from providers.base import ProviderError, ProviderInputError, ProviderRequest, ProviderResult
from providers.settings import int_between

OUTPUT_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_SEPIA_DARK = "#2b1d0e"
_SEPIA_LIGHT = "#fbeccd"


def _grayscale(image: Image.Image, request: ProviderRequest) -> Image.Image:
    return ImageOps.grayscale(image)


def _sepia(image: Image.Image, request: ProviderRequest) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(image), _SEPIA_DARK, _SEPIA_LIGHT)


def _posterize(image: Image.Image, request: ProviderRequest) -> Image.Image:
    bits = int(request.settings.get("bits", 3))
    return ImageOps.posterize(image.convert("RGB"), max(1, min(8, bits)))


def _frame(image: Image.Image, request: ProviderRequest) -> Image.Image:
    overlays = request.templates_with_role("overlay")
    if not overlays:
        raise ProviderError("the frame operation needs an overlay template image on the slot")
    with Image.open(io.BytesIO(overlays[-1].data)) as overlay:
        overlay = overlay.convert("RGBA").resize(image.size, Image.Resampling.LANCZOS)
    framed = image.convert("RGBA")
    framed.alpha_composite(overlay)
    return framed.convert("RGB")


def _passthrough(image: Image.Image, request: ProviderRequest) -> Image.Image:
    return image


_OPERATIONS: dict[str, Callable[[Image.Image, ProviderRequest], Image.Image]] = {
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

    def uses_template_images(self, operation: str) -> bool:
        return operation == "frame"

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        # Shown to staff on the slot page: worded in their language when asked.
        problems = {}
        if operation not in _OPERATIONS:
            problems[""] = gettext("The local provider can do: %(operations)s.") % {
                "operations": ", ".join(_OPERATIONS)
            }
        if "bits" in settings and not int_between(settings["bits"], 1, 8):
            problems["bits"] = gettext("bits must be a whole number from 1 to 8.")
        if "quality" in settings and not int_between(settings["quality"], 1, 100):
            problems["quality"] = gettext("quality must be a whole number from 1 to 100.")
        wanted = settings.get("output_format")
        if wanted is not None and str(wanted).lower() not in OUTPUT_FORMATS:
            problems["output_format"] = gettext("output_format must be jpeg, png or webp.")
        return problems

    async def process(self, request: ProviderRequest) -> ProviderResult:
        operation = _OPERATIONS.get(request.operation)
        if operation is None:
            raise ProviderError(f"the local provider has no operation {request.operation!r}")
        if request.operation == "passthrough" and request.photo_orientation == 1:
            # Upright already: the photo as it came is the result, no decode, no re-encode.
            return ProviderResult(format=request.photo_format, photo_unchanged=True)
        return await run_image_work(_apply, operation, request)


def _apply(
    operation: Callable[[Image.Image, ProviderRequest], Image.Image], request: ProviderRequest
) -> ProviderResult:
    try:
        image = open_upright(request.photo_path)
    except (OSError, SyntaxError, ValueError) as error:
        raise ProviderInputError(f"the photo cannot be decoded: {error}") from None
    with image:
        result = operation(image, request)
        output_format = _output_format(request)
        if output_format == "JPEG" and result.mode not in ("RGB", "L"):
            result = result.convert("RGB")
        buffer = io.BytesIO()
        quality = int(request.settings.get("quality", 90))
        result.save(buffer, output_format, quality=max(1, min(100, quality)))
    return ProviderResult(format=output_format, data=buffer.getvalue())


def _output_format(request: ProviderRequest) -> str:
    wanted = str(request.settings.get("output_format", "")).lower()
    if wanted in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[wanted]
    # passthrough keeps the photo's own format; the effects default to JPEG.
    return request.photo_format if request.operation == "passthrough" else "JPEG"
