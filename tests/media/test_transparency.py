"""A photo with transparent parts keeps its look where a format or an effect has no alpha:
those parts show white, or the slot's background colour, never the black stored under them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.booth import Booth
from tests.crew import Crew

pytestmark = pytest.mark.django_db(transaction=True)

BLUE = (30, 60, 200)
# Where the photo is transparent, and where it is opaque blue.
CLEAR_AT = (40, 120)
BLUE_AT = (280, 120)


def half_transparent(image_format: str, size: tuple[int, int] = (320, 240)) -> bytes:
    """The left half transparent, stored as black (as image editors store it); the right
    half opaque blue."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((*BLUE, 255), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, image_format, lossless=True)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.fixture
def crew(booth: Booth) -> Crew:
    return Crew()


@pytest.mark.parametrize(("image_format", "content_type"), [("PNG", "png"), ("WEBP", "webp")])
def test_transparent_part_comes_back_light_from_sepia_not_black(
    booth: Booth, image_format: str, content_type: str
) -> None:
    response = booth.post_photo(
        "slot-003",
        half_transparent(image_format),
        filename=f"sticker.{content_type}",
        content_type=f"image/{content_type}",
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    image = decoded(response.content)
    # White turned sepia is the ramp's light end, #fbeccd.
    assert near(image.getpixel(CLEAR_AT), (251, 236, 205))
    assert max(image.getpixel(BLUE_AT)) < 150  # the opaque part keeps its darkness


def test_transparent_part_takes_the_slots_background_color(booth: Booth, crew: Crew) -> None:
    # posterize keeping all 8 bits leaves colours as they are
    crew.slot_change("slot-004", settings={"bits": 8, "background_color": "#3366CC"})

    response = booth.post_photo(
        "slot-004", half_transparent("PNG"), filename="sticker.png", content_type="image/png"
    )

    assert response.status_code == 200, response.text
    image = decoded(response.content)
    assert near(image.getpixel(CLEAR_AT), (0x33, 0x66, 0xCC))
    assert near(image.getpixel(BLUE_AT), BLUE)


def test_a_wrong_background_color_is_refused_when_staff_save_the_slot(crew: Crew) -> None:
    reply = crew.http.request(
        "PATCH",
        "/api/slots/slot-004",
        json={"settings": {"background_color": "pink-ish"}},
        headers=crew.headers,
    )

    assert reply.status_code == 422
    assert "background_color" in reply.text


def test_thumbnail_of_a_transparent_result_is_white_where_it_was_transparent(
    booth: Booth, crew: Crew
) -> None:
    # The passthrough slot keeps the PNG as it came, transparency and all.
    response = booth.post_photo(
        "slot-001", half_transparent("PNG"), filename="sticker.png", content_type="image/png"
    )
    assert response.headers["content-type"] == "image/png"

    thumbnail = crew.get(f"/api/jobs/{response.headers['x-job-id']}/thumbnail")

    assert thumbnail.status_code == 200
    image = decoded(thumbnail.content)
    assert image.size == (256, 192)
    assert near(image.getpixel((32, 96)), (255, 255, 255))
    assert near(image.getpixel((224, 96)), BLUE)
