"""Print-ready output: a slot's ``output`` block lays every result out for the booth's printer
(paper size in pixels, fit, DPI, format), and the guest's own photo too when the slot says so."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image, ImageStat

from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.images import jpeg_bytes
from tests.roles import EVENT_ADMIN, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

LANDSCAPE = (640, 480)
GREY = (128, 128, 128)


def with_output(slot_id: str, output: dict, **fields: object) -> None:
    slot = Slot.objects.get(pk=slot_id)
    Slot.objects.filter(pk=slot_id).update(settings={**slot.settings, "output": output}, **fields)


def printed(answer: object) -> Image.Image:
    assert answer.status_code == 200, answer.text
    return Image.open(io.BytesIO(answer.content))


def test_a_landscape_photo_fills_a_portrait_4x6_at_300_dpi(booth: Booth) -> None:
    with_output("slot-001", {"size": "4x6-portrait"})

    answer = booth.post_photo("slot-001", jpeg_bytes(LANDSCAPE))

    image = printed(answer)
    assert (image.format, image.size) == ("JPEG", (1200, 1800))
    assert image.info["dpi"] == (300, 300)
    assert answer.headers["content-type"] == "image/jpeg"
    download = booth.http.get(f"/public/results/{answer.headers['x-job-id']}")
    assert download.content == answer.content


def photo_with_a_person_at_the_right() -> bytes:
    """A 3:1 landscape: plain grey, and NASA's portrait of Eileen Collins at its right end."""
    astronaut = pytest.importorskip("skimage.data").astronaut
    canvas = Image.new("RGB", (1536, 512), GREY)
    canvas.paste(Image.fromarray(astronaut()), (1024, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.mark.parametrize(("fit", "person_shown"), [("crop", False), ("crop-faces", True)])
def test_crop_faces_keeps_the_person_a_centred_crop_cuts_off(
    booth: Booth, fit: str, person_shown: bool
) -> None:
    pytest.importorskip("mediapipe", reason="person segmentation needs Python 3.11 or 3.12")
    with_output("slot-001", {"size": "square", "fit": fit})

    image = printed(booth.post_photo("slot-001", photo_with_a_person_at_the_right()))

    assert image.size == (1800, 1800)
    # Her face is ~230 px into the portrait, so at the crop's middle when the crop is on her.
    face = ImageStat.Stat(image.convert("RGB").crop((700, 300, 1100, 700))).mean
    plain_grey = all(abs(channel - GREY[0]) < 6 for channel in face)
    assert plain_grey is not person_shown


def test_contain_keeps_the_whole_photo_on_bands_of_the_background(booth: Booth) -> None:
    with_output("slot-001", {"size": "square", "fit": "contain", "background": "#ff0000"})

    image = printed(booth.post_photo("slot-001", jpeg_bytes(LANDSCAPE))).convert("RGB")

    assert image.size == (1800, 1800)
    top_band, middle = image.getpixel((900, 20)), image.getpixel((900, 900))
    assert abs(top_band[0] - 255) + top_band[1] + top_band[2] < 60  # red
    assert middle != top_band


def test_an_exact_size_and_format_as_the_printer_wants(booth: Booth) -> None:
    with_output("slot-003", {"size": {"width": 900, "height": 600}, "format": "png", "dpi": 600})

    image = printed(booth.post_photo("slot-003", jpeg_bytes(LANDSCAPE)))

    assert (image.format, image.size) == ("PNG", (900, 600))
    assert round(image.info["dpi"][0]) == 600


def test_the_photo_is_turned_upright_for_good(booth: Booth) -> None:
    with_output("slot-001", {"size": "as-answered"})
    sideways = jpeg_bytes(LANDSCAPE, exif_orientation=6)

    image = printed(booth.post_photo("slot-001", sideways))

    assert image.size == (480, 640)
    assert image.getexif().get(0x0112) in (None, 1)


def test_the_guests_original_is_laid_out_when_the_slot_asks(booth: Booth, settings: object) -> None:
    # A Gemini slot with no key fails, and answers the guest's photo instead.
    settings.PROVIDER_API_KEYS = {"gemini": "", "openai": "", "turbotext": ""}
    GlobalSettings.objects.update(gemini_api_key="")
    slot_settings = {"prompt": "x", "output": {"size": "4x6-landscape", "original": True}}
    Slot.objects.filter(pk="slot-006").update(
        is_active=True,
        provider="gemini",
        operation="generate",
        on_failure="original",
        settings=slot_settings,
    )

    answer = booth.post_photo("slot-006", jpeg_bytes(LANDSCAPE))

    assert answer.headers["x-photochanger-fallback"] == "original"
    assert printed(answer).size == (1800, 1200)


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ({"size": "a4"}, "size must be one of"),
        ({"size": {"width": 10, "height": 600}}, "64 to 10000"),
        ({"fit": "stretch"}, "crop, crop-faces or contain"),
        ({"background": "red"}, "#rrggbb"),
        ({"format": "gif"}, "jpeg, png or webp"),
        ({"dpi": 5}, "72 to 1200"),
        ({"colour": "x"}, "no setting colour"),
    ],
)
def test_a_wrong_output_block_is_refused_when_saved(
    configured: None, output: dict, says: str
) -> None:
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="t")[1]

    response = Client(headers={"Authorization": f"Bearer {token}"}).patch(
        "/api/slots/slot-001", {"settings": {"output": output}}, content_type="application/json"
    )

    assert response.status_code == 422
    assert says in response.json()["errors"]["settings.output"]
