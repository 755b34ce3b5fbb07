"""The frame operation: of the slot's overlay template images, the one closest to the photo's
shape, scaled to cover the photo with its own aspect ratio (centred, the excess cut off)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.booth import Booth
from tests.crew import Crew
from tests.images import jpeg_bytes

pytestmark = pytest.mark.django_db(transaction=True)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
FRAME_SLOT = "slot-005"


def overlay(size: tuple[int, int], *bands: tuple[tuple[int, int, int], tuple[int, ...]]) -> bytes:
    """A transparent PNG with opaque bands of colour, each (colour, box)."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    for colour, box in bands:
        image.paste((*colour, 255), box)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def top_band(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    width, height = size
    return overlay(size, (colour, (0, 0, width, height // 10)))


def framed(booth: Booth, photo: bytes) -> Image.Image:
    response = booth.post_photo(FRAME_SLOT, photo)
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as image:
        return image.convert("RGB")


def is_colour(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True))


@pytest.fixture
def crew(booth: Booth) -> Crew:
    return Crew()


@pytest.mark.parametrize(
    ("photo_size", "colour"),
    [((480, 640), RED), ((640, 480), BLUE)],
    ids=["portrait-photo", "landscape-photo"],
)
def test_the_overlay_closest_to_the_photos_shape_is_used(
    booth: Booth, crew: Crew, photo_size: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    crew.template_image_add(FRAME_SLOT, top_band((300, 400), RED), role="overlay")  # portrait
    crew.template_image_add(FRAME_SLOT, top_band((400, 300), BLUE), role="overlay")  # landscape
    crew.slot_change(FRAME_SLOT, is_active=True)

    image = framed(booth, jpeg_bytes(photo_size))

    assert image.size == photo_size
    assert is_colour(image.getpixel((photo_size[0] // 2, 10)), colour)
    assert not is_colour(image.getpixel((photo_size[0] // 2, photo_size[1] // 2)), colour)


def test_a_landscape_overlay_covers_a_portrait_photo_without_stretching(
    booth: Booth, crew: Crew
) -> None:
    # 2:1, a red stripe at its left edge and a blue one in its middle. Over a 2:3 photo it is
    # scaled by 1.5 to the photo's height; its middle third shows (x 267 to 533), so the blue
    # stripe comes out 150 px wide and the red one is cut off. Stretched, the red stripe would
    # cover the photo's left quarter and the blue one would be 50 px wide.
    wide = overlay((800, 400), (RED, (0, 0, 200, 400)), (BLUE, (350, 0, 450, 400)))
    crew.template_image_add(FRAME_SLOT, wide, role="overlay")
    crew.slot_change(FRAME_SLOT, is_active=True)

    image = framed(booth, jpeg_bytes((400, 600)))

    assert image.size == (400, 600)
    for x in (135, 200, 265):  # the blue stripe: x 125 to 275
        assert is_colour(image.getpixel((x, 300)), BLUE), x
    for x in (20, 100, 300, 380):  # the photo itself: neither stripe
        pixel = image.getpixel((x, 300))
        assert not is_colour(pixel, RED), (x, pixel)
        assert not is_colour(pixel, BLUE), (x, pixel)
