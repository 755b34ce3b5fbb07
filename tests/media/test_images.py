"""Deciding what an upload is from its bytes, without decoding it whole."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from media.images import photo_inspect
from photochanger.errors import UnsupportedMediaType
from tests.images import image_bytes, jpeg_bytes


def write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions: the shape of a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_jpeg_is_described_with_its_orientation(tmp_path: Path) -> None:
    info = photo_inspect(write(tmp_path, jpeg_bytes((300, 200), exif_orientation=6)))
    assert (info.format, info.width, info.height, info.orientation) == ("JPEG", 300, 200, 6)
    assert info.content_type == "image/jpeg"


@pytest.mark.parametrize("format", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted(tmp_path: Path, format: str) -> None:
    assert photo_inspect(write(tmp_path, image_bytes(format))).format == format


def test_jpeg_with_data_after_its_end_marker_is_accepted(tmp_path: Path) -> None:
    data = jpeg_bytes() + b"\0" * 100_000  # some cameras pad or append a trailer
    assert photo_inspect(write(tmp_path, data)).format == "JPEG"


@pytest.mark.parametrize("keep", [0.99, 0.5, 0.1])
def test_truncated_jpeg_is_refused(tmp_path: Path, keep: float) -> None:
    data = jpeg_bytes((800, 600))
    with pytest.raises(UnsupportedMediaType):
        photo_inspect(write(tmp_path, data[: int(len(data) * keep)]))


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    data = image_bytes("PNG", (400, 400))
    with pytest.raises(UnsupportedMediaType):
        photo_inspect(write(tmp_path, data[:-20]))


def test_truncated_webp_is_refused(tmp_path: Path) -> None:
    webp = image_bytes("WEBP", (400, 300))
    with pytest.raises(UnsupportedMediaType):
        photo_inspect(write(tmp_path, webp[: len(webp) // 2]))


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType, match="too many pixels"):
        photo_inspect(write(tmp_path, png_header_only(60_000, 60_000)))


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("GIF"),
        image_bytes("BMP"),
        image_bytes("TIFF"),
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64,
        b"",
        b"\xff\xd8\xff",
    ],
    ids=["gif", "bmp", "tiff", "svg", "heic", "empty", "jpeg-magic-only"],
)
def test_anything_else_is_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        photo_inspect(write(tmp_path, data))


def test_truncated_jpeg_whose_exif_thumbnail_has_an_end_marker_is_refused(
    tmp_path: Path,
) -> None:
    # Cameras embed a small JPEG (with its own FF D9) in the EXIF block, before the image data.
    thumbnail = jpeg_bytes((160, 120))
    payload = b"Exif\0\0" + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    photo = jpeg_bytes((400, 300))
    with_thumbnail = photo[:2] + app1 + photo[2:]
    assert photo_inspect(write(tmp_path, with_thumbnail)).format == "JPEG"
    with pytest.raises(UnsupportedMediaType):
        photo_inspect(write(tmp_path, with_thumbnail[: len(app1) + len(photo) // 2]))
