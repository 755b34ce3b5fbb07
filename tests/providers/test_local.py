"""The offline provider's operations, on real photos."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from media.images import photo_inspect
from providers.base import (
    Deadline,
    ProviderError,
    ProviderInputError,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.local import LocalProvider
from tests.images import jpeg_bytes


def run(
    tmp_path: Path,
    operation: str,
    photo: bytes,
    *,
    settings: dict | None = None,
    templates: list[TemplateImageInput] | None = None,
) -> ProviderResult:
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo)
    info = photo_inspect(path)
    request = ProviderRequest(
        job_id="test",
        photo_path=path,
        photo_format=info.format,
        photo_orientation=info.orientation,
        operation=operation,
        settings=settings or {},
        deadline=Deadline.in_seconds(30),
        template_images=templates or [],
    )
    return asyncio.run(LocalProvider().process(request))


def decoded(result: ProviderResult) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def test_passthrough_of_an_upright_photo_keeps_the_file(tmp_path: Path) -> None:
    result = run(tmp_path, "passthrough", jpeg_bytes())
    assert result.photo_unchanged
    assert result.format == "JPEG"


def test_passthrough_turns_a_sideways_photo_upright(tmp_path: Path) -> None:
    result = run(tmp_path, "passthrough", jpeg_bytes((600, 400), exif_orientation=8))
    assert not result.photo_unchanged
    assert decoded(result).size == (400, 600)


def test_grayscale_has_no_colour(tmp_path: Path) -> None:
    image = decoded(run(tmp_path, "grayscale", jpeg_bytes()))
    assert image.mode == "L"


def test_sepia_is_warm(tmp_path: Path) -> None:
    image = decoded(run(tmp_path, "sepia", jpeg_bytes()))
    red, green, blue = (
        sum(level * count for level, count in enumerate(band.histogram()))
        for band in image.convert("RGB").split()
    )
    assert red > green > blue


def test_posterize_leaves_few_levels(tmp_path: Path) -> None:
    result = run(tmp_path, "posterize", jpeg_bytes(), settings={"bits": 2, "output_format": "png"})
    image = decoded(result)
    assert result.format == "PNG"
    assert sum(1 for count in image.getchannel(0).histogram() if count) <= 4


def test_effects_follow_exif_orientation(tmp_path: Path) -> None:
    image = decoded(run(tmp_path, "sepia", jpeg_bytes((600, 400), exif_orientation=6)))
    assert image.size == (400, 600)


def test_frame_lays_the_overlay_over_the_photo(tmp_path: Path) -> None:
    # The photo's own aspect ratio: scaled to cover it, nothing is cut off.
    overlay = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    overlay.paste((255, 0, 0, 255), (0, 0, 160, 10))  # an opaque red band at the top
    buffer = io.BytesIO()
    overlay.save(buffer, "PNG")
    template = TemplateImageInput(role="overlay", content_type="image/png", data=buffer.getvalue())

    result = run(
        tmp_path,
        "frame",
        jpeg_bytes((640, 480)),
        templates=[template],
        settings={"output_format": "png"},
    )

    image = decoded(result).convert("RGB")
    assert image.size == (640, 480)
    assert image.getpixel((320, 10)) == (255, 0, 0)
    assert image.getpixel((320, 400)) != (255, 0, 0)


def test_frame_without_an_overlay_is_a_provider_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="overlay"):
        run(tmp_path, "frame", jpeg_bytes())


def test_unknown_operation_is_a_provider_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="no operation"):
        run(tmp_path, "cartoonify", jpeg_bytes())


def test_photo_that_does_not_decode_is_an_input_error(tmp_path: Path) -> None:
    # A bogus Huffman table: the header reads fine (it passes the upload check), decoding fails.
    data = bytearray(jpeg_bytes((800, 600)))
    table = data.find(b"\xff\xc4")
    data[table + 5 : table + 21] = b"\xff" * 16
    with pytest.raises(ProviderInputError):
        run(tmp_path, "grayscale", bytes(data))


def test_wrong_settings_are_read_leniently(tmp_path: Path) -> None:
    # A slot saved before its settings were checked still gives guests an image.
    settings = {"bits": "2", "quality": 500, "output_format": "PNG"}
    result = run(tmp_path, "posterize", jpeg_bytes(), settings=settings)
    assert result.format == "PNG"
    assert sum(1 for count in decoded(result).getchannel(0).histogram() if count) <= 4


def test_unknown_output_format_falls_back_to_jpeg(tmp_path: Path) -> None:
    result = run(tmp_path, "sepia", jpeg_bytes(), settings={"output_format": "gif"})
    assert result.format == "JPEG"
