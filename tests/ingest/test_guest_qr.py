"""The guest's link on the print: a slot may stamp the QR code of the guest's page onto each
result, which the booth prints."""

from __future__ import annotations

import io

import pytest
import segno
from django.test import Client
from PIL import Image

from media.stamps import qr_stamped
from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.roles import EVENT_ADMIN, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "https://booth.example.org"
PHOTO_SIZE = (1200, 800)
PHOTO_COLOUR = (40, 90, 160)


def flat_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", PHOTO_SIZE, PHOTO_COLOUR).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def admin_api() -> Client:
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="t")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def code_read(image: Image.Image, *, url: str) -> list[list[bool]]:
    """The modules found where qr_stamped puts the code of ``url`` on an image of this size."""
    _blank, layout = qr_stamped(
        Image.new("RGB", image.size), url=url, corner="bottom-right", caption="Scan me"
    )
    size = len(segno.make(url, error="m").matrix)
    grey = image.convert("L")
    half = layout.module // 2
    return [
        [
            grey.getpixel(
                (
                    layout.left + column * layout.module + half,
                    layout.top + row * layout.module + half,
                )
            )
            < 128
            for column in range(size)
        ]
        for row in range(size)
    ]


def test_without_the_public_base_url_the_option_is_refused_with_the_reason(
    configured: None,
) -> None:
    response = admin_api().patch(
        "/api/slots/slot-002",
        {"guest_qr_corner": "bottom-right"},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert "public base URL" in response.json()["errors"]["guest_qr_corner"]
    assert Slot.objects.get(pk="slot-002").guest_qr_corner == ""


def test_the_print_carries_the_code_of_the_guests_page(booth: Booth) -> None:
    GlobalSettings.objects.update(public_base_url=BASE)
    response = admin_api().patch(
        "/api/slots/slot-001",
        {"guest_qr_corner": "bottom-right", "guest_qr_caption": "Scan me"},
        content_type="application/json",
    )
    assert response.status_code == 200

    answer = booth.post_photo("slot-001", flat_photo())

    assert answer.status_code == 200
    page = f"{BASE}/r/{answer.headers['x-job-id']}"
    printed = Image.open(io.BytesIO(answer.content))
    assert printed.size == PHOTO_SIZE
    expected = [[bool(module) for module in row] for row in segno.make(page, error="m").matrix]
    assert code_read(printed, url=page) == expected
    # The rest of the photo is the photo.
    assert all(
        abs(a - b) < 12 for a, b in zip(printed.getpixel((40, 40)), PHOTO_COLOUR, strict=True)
    )
    # The guest's download is the printed image.
    assert booth.http.get(f"/public/results/{answer.headers['x-job-id']}").content == (
        answer.content
    )


def test_a_slot_without_the_option_answers_the_photo_unchanged(booth: Booth) -> None:
    GlobalSettings.objects.update(public_base_url=BASE)
    photo = flat_photo()

    assert booth.post_photo("slot-001", photo).content == photo
