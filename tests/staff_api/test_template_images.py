"""Template images: POST /api/slots/{slot_id}/template-images, DELETE and GET …/{image_id}."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from slots.models import TemplateImage
from tests.images import image_bytes, jpeg_bytes

pytestmark = pytest.mark.django_db

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def upload(client: Client, slot_id: str, data: bytes, role: str = "style", **headers: str):
    file = SimpleUploadedFile("template.bin", data, content_type="application/octet-stream")
    return client.post(
        f"/api/slots/{slot_id}/template-images", {"file": file, "role": role}, headers=headers
    )


def stored_files(media_root: Path) -> list[Path]:
    folder = media_root / "templates"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_upload_stores_the_image_and_answers_201(
    api: Client, media_root: Path, image_format: str
) -> None:
    data = image_bytes(image_format)

    response = upload(api, "slot-005", data, role="overlay")

    assert response.status_code == 201
    body = response.json()
    image = TemplateImage.objects.get(pk=body["id"])
    assert image.slot_id == "slot-005"
    assert body["role"] == "overlay"
    # The type comes from the bytes, not from the part's Content-Type.
    assert body["content_type"] == CONTENT_TYPES[image_format]
    assert body["size_bytes"] == len(data)
    assert body["created_at"]
    assert body["url"] == (f"http://testserver/api/slots/slot-005/template-images/{image.pk}/file")
    assert len(stored_files(media_root)) == 1


def test_uploaded_image_is_listed_on_its_slot(api: Client) -> None:
    image_id = upload(api, "slot-005", image_bytes("PNG"), role="background").json()["id"]

    slot = api.get("/api/slots/slot-005").json()

    assert [(image["id"], image["role"]) for image in slot["template_images"]] == [
        (image_id, "background")
    ]


def test_file_url_serves_the_image_to_staff(api: Client) -> None:
    data = jpeg_bytes((300, 200))
    url = upload(api, "slot-005", data).json()["url"]

    response = api.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == data
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (300, 200)


def test_file_of_another_slots_image_is_404(api: Client) -> None:
    image_id = upload(api, "slot-005", image_bytes("PNG")).json()["id"]

    response = api.get(f"/api/slots/slot-006/template-images/{image_id}/file")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "template_image_not_found"


@pytest.mark.parametrize(
    "data",
    [b"just some text, not an image", jpeg_bytes()[:2000], b"GIF89a" + b"\x00" * 64],
    ids=["text", "truncated-jpeg", "gif"],
)
def test_non_image_is_415_and_stores_nothing(api: Client, media_root: Path, data: bytes) -> None:
    response = upload(api, "slot-005", data)

    assert response.status_code == 415
    assert response.json()["failure_reason"] == "unsupported_media_type"
    assert TemplateImage.objects.count() == 0
    assert stored_files(media_root) == []


def test_unknown_role_is_422_naming_it(api: Client, media_root: Path) -> None:
    response = upload(api, "slot-005", image_bytes("PNG"), role="sticker")

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"role"}
    assert stored_files(media_root) == []


def test_missing_file_is_422_naming_it(api: Client) -> None:
    response = api.post("/api/slots/slot-005/template-images", {"role": "style"})

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"file"}


def test_upload_to_unknown_slot_is_404(api: Client, media_root: Path) -> None:
    response = upload(api, "slot-404", image_bytes("PNG"))

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "slot_not_found"
    assert stored_files(media_root) == []


def test_delete_removes_the_row_and_the_file(api: Client, media_root: Path) -> None:
    image_id = upload(api, "slot-005", image_bytes("PNG")).json()["id"]

    response = api.delete(f"/api/slots/slot-005/template-images/{image_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not TemplateImage.objects.filter(pk=image_id).exists()
    assert stored_files(media_root) == []
    assert api.get(f"/api/slots/slot-005/template-images/{image_id}/file").status_code == 404


def test_delete_through_another_slot_is_404_and_keeps_the_image(api: Client) -> None:
    image_id = upload(api, "slot-005", image_bytes("PNG")).json()["id"]

    response = api.delete(f"/api/slots/slot-006/template-images/{image_id}")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "template_image_not_found"
    assert TemplateImage.objects.filter(pk=image_id).exists()


def test_delete_on_unknown_slot_is_404_slot_not_found(api: Client) -> None:
    response = api.delete("/api/slots/slot-404/template-images/1")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "slot_not_found"


def test_image_id_must_be_a_number(api: Client) -> None:
    response = api.delete("/api/slots/slot-005/template-images/first")

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"image_id"}
