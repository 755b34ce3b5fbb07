"""The local provider's background and cutout operations, on a real photograph of a person
(NASA's portrait of Eileen Collins, shipped in scikit-image), through the booth's endpoint, the
staff API and the admin's slot page.

The assertions are on regions: the astronaut's face and suit (well inside her outline) and the
photo's top-left corner (the dark studio, well outside it)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageStat

from slots.models import Slot
from tests.admin.test_slot_admin import new_template_image, slot_form, slot_page
from tests.booth import Booth
from tests.crew import Crew
from tests.roles import EVENT_ADMIN, staff_with_role

pytest.importorskip("mediapipe", reason="person segmentation needs Python 3.11 or 3.12")
astronaut = pytest.importorskip("skimage.data").astronaut

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-006"
GREEN = (0, 255, 0)
BLUE = (20, 40, 200)
# In the 512 px photograph: her face, her suit's chest, and the studio behind her.
FACE = (200, 80, 260, 150)
CHEST = (170, 260, 300, 380)
STUDIO = (0, 0, 60, 60)


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    return Image.fromarray(astronaut())


@pytest.fixture
def portrait_jpeg(portrait: Image.Image) -> bytes:
    buffer = io.BytesIO()
    portrait.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
def crew(booth: Booth) -> Crew:
    return Crew()


def png_of(colour: tuple[int, int, int], size: tuple[int, int] = (300, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def mean(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image.crop(box)).mean)


def close_to(a: tuple[float, ...], b: tuple[float, ...], tolerance: float) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def answered_image(response, content_type: str = "image/jpeg") -> Image.Image:
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def assert_person_kept(result: Image.Image, portrait: Image.Image) -> None:
    result = result.convert("RGB")
    for region in (FACE, CHEST):
        assert close_to(mean(result, region), mean(portrait, region), 12), region


def test_background_colour_replaces_the_studio_and_keeps_the_person(
    booth: Booth, crew: Crew, portrait: Image.Image, portrait_jpeg: bytes
) -> None:
    crew.slot_change(
        SLOT,
        provider="local",
        operation="background",
        settings={"background_color": "#00ff00"},
        is_active=True,
    )

    result = answered_image(booth.post_photo(SLOT, portrait_jpeg))

    assert result.size == portrait.size
    assert close_to(mean(result, STUDIO), GREEN, 8)
    assert not close_to(mean(portrait, STUDIO), GREEN, 100)
    assert_person_kept(result, portrait)


def test_background_template_image_is_laid_behind_the_person(
    booth: Booth, crew: Crew, portrait: Image.Image, portrait_jpeg: bytes
) -> None:
    crew.slot_change(SLOT, provider="local", operation="background", settings={}, is_active=True)
    crew.template_image_add(SLOT, png_of(BLUE, (800, 600)), role="background")

    result = answered_image(booth.post_photo(SLOT, portrait_jpeg))

    assert close_to(mean(result, STUDIO), BLUE, 8)
    assert_person_kept(result, portrait)


def test_cutout_answers_a_png_transparent_around_the_person(
    booth: Booth, crew: Crew, portrait: Image.Image, portrait_jpeg: bytes
) -> None:
    crew.slot_change(SLOT, provider="local", operation="cutout", settings={}, is_active=True)

    result = answered_image(booth.post_photo(SLOT, portrait_jpeg), "image/png")

    assert result.mode == "RGBA"
    alpha = result.getchannel("A")
    assert mean(alpha, STUDIO)[0] < 5
    for region in (FACE, CHEST):
        assert mean(alpha, region)[0] > 250, region
    assert_person_kept(result, portrait)


def test_a_slot_set_up_in_the_admin_replaces_the_background_in_a_test_run(
    booth: Booth, crew: Crew, portrait: Image.Image, portrait_jpeg: bytes
) -> None:
    staff = Client()
    staff.force_login(staff_with_role("event-admin", EVENT_ADMIN))
    slot = Slot.objects.get(pk=SLOT)
    backdrop = SimpleUploadedFile("backdrop.png", png_of(BLUE), "image/png")
    form = slot_form(slot, provider="local", operation="background", settings="{}")
    form |= new_template_image("background", backdrop)
    assert staff.post(slot_page(SLOT), form).status_code == 302

    response = crew.http.post(
        f"/api/slots/{SLOT}/test-run",
        files={"fileToUpload": ("guest.jpg", portrait_jpeg, "image/jpeg")},
        headers=crew.headers,
    )

    result = answered_image(response)
    assert close_to(mean(result, STUDIO), BLUE, 8)
    assert_person_kept(result, portrait)


def test_a_cutout_laid_out_for_print_keeps_its_transparency(
    booth: Booth, crew: Crew, portrait_jpeg: bytes
) -> None:
    output = {"size": "4x6-portrait", "format": "png", "fit": "crop"}
    crew.slot_change(
        SLOT, provider="local", operation="cutout", settings={"output": output}, is_active=True
    )

    result = answered_image(booth.post_photo(SLOT, portrait_jpeg), "image/png")

    assert (result.size, result.mode) == ((1200, 1800), "RGBA")
    alpha = result.getchannel("A")
    assert mean(alpha, (0, 0, 100, 100))[0] < 5  # the studio, above her shoulder
    # Her face, scaled by 1800/512 from FACE, less the 85 px cut off the photo's left.
    assert mean(alpha, (430, 300, 600, 500))[0] > 250
