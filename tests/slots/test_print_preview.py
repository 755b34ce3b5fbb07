"""The slot page's live print preview: the last test run's answer, kept before any layout, laid
out by the output block staff are typing, without another provider call."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageStat

from photochanger.tokens import api_token_create
from tests.booth import Booth, Reply
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-001"  # local passthrough
RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


@pytest.fixture
def operator(booth: Booth) -> dict[str, str]:
    token = api_token_create(user=staff_with_role("op", EVENT_OPERATOR), name="tests")[1]
    return {"Authorization": f"Bearer {token}"}


def striped_photo() -> bytes:
    """A 3:2 landscape, grey with a red stripe at its left edge and a blue one at its right."""
    image = Image.new("RGB", (900, 600), GREY)
    image.paste(RED, (0, 0, 90, 600))
    image.paste(BLUE, (810, 0, 900, 600))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def run_test_photo(booth: Booth, headers: dict[str, str], settings: dict | None = None) -> None:
    overrides = {"settings": settings} if settings is not None else {}
    reply = booth.http.post(
        f"/api/slots/{SLOT}/test-run",
        files={"fileToUpload": ("test.jpg", striped_photo(), "image/jpeg")},
        data={"overrides": json.dumps(overrides)},
        headers=headers,
    )
    assert reply.status_code == 200, reply.text


def preview(booth: Booth, headers: dict[str, str], **payload: object) -> Reply:
    return booth.http.post(f"/api/slots/{SLOT}/print-preview", json=payload, headers=headers)


def image_of(reply: Reply) -> Image.Image:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(reply.content)).convert("RGB")


def colour_at(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image.crop(box)).mean)


def near(colour: tuple[float, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(colour, expected, strict=True))


def test_the_preview_has_the_prints_shape_at_screen_size(
    booth: Booth, operator: dict[str, str]
) -> None:
    run_test_photo(booth, operator)

    portrait = image_of(preview(booth, operator, settings={"output": {"size": "4x6-portrait"}}))
    strip = image_of(preview(booth, operator, settings={"output": {"size": "2x6-strip"}}))

    assert portrait.size == (400, 600)
    assert strip.size == (200, 600)
    # A centred crop of a landscape photo: the stripes at its edges are cut off.
    assert near(colour_at(portrait, (0, 250, 20, 350)), GREY)


def test_contain_shows_the_bands_in_the_background_colour(
    booth: Booth, operator: dict[str, str]
) -> None:
    run_test_photo(booth, operator)
    output = {"size": "square", "fit": "contain", "background": "#0000ff"}

    image = image_of(preview(booth, operator, settings={"output": output}))

    assert image.size == (600, 600)
    assert near(colour_at(image, (250, 0, 350, 80)), BLUE)  # the band above the photo
    assert near(colour_at(image, (250, 250, 350, 350)), GREY)  # the photo


def test_the_answer_is_kept_before_the_layout_the_test_run_had(
    booth: Booth, operator: dict[str, str]
) -> None:
    # The test run crops the landscape photo to a portrait print, cutting off both stripes...
    run_test_photo(booth, operator, settings={"output": {"size": "4x6-portrait"}})

    # ...and a landscape layout of the same answer still shows them: no crop of a crop.
    image = image_of(preview(booth, operator, settings={"output": {"size": "4x6-landscape"}}))

    assert image.size == (600, 400)
    assert near(colour_at(image, (5, 150, 30, 250)), RED)
    assert near(colour_at(image, (570, 150, 595, 250)), BLUE)


def test_the_guests_code_is_stamped_in_the_chosen_corner(
    booth: Booth, operator: dict[str, str]
) -> None:
    run_test_photo(booth, operator)
    settings = {"output": {"size": "4x6-landscape"}}

    plain = image_of(preview(booth, operator, settings=settings))
    stamped = image_of(
        preview(
            booth, operator, settings=settings, guest_qr_corner="top-left", guest_qr_caption="Scan"
        )
    )

    corner, opposite = (20, 20, 80, 80), (520, 320, 580, 380)
    assert colour_at(stamped, corner) != pytest.approx(colour_at(plain, corner), abs=30)
    assert colour_at(stamped, opposite) == pytest.approx(colour_at(plain, opposite), abs=3)


def test_before_any_test_run_the_preview_asks_for_one(
    booth: Booth, operator: dict[str, str]
) -> None:
    reply = preview(booth, operator, settings={"output": {"size": "square"}})

    assert reply.status_code == 404
    assert reply.json()["failure_reason"] == "no_test_run"


def test_a_wrong_output_block_or_corner_is_explained(
    booth: Booth, operator: dict[str, str]
) -> None:
    run_test_photo(booth, operator)

    reply = preview(
        booth, operator, settings={"output": {"fit": "stretch"}}, guest_qr_corner="middle"
    )

    assert reply.status_code == 422
    errors = reply.json()["errors"]
    assert "crop, crop-faces or contain" in errors["output"]
    assert "top-left" in errors["guest_qr_corner"]


def test_staff_who_may_not_test_a_slot_get_no_preview(booth: Booth) -> None:
    token = api_token_create(user=staff_with_role("viewer", None), name="tests")[1]

    reply = preview(booth, {"Authorization": f"Bearer {token}"}, settings={})

    assert reply.status_code == 403
