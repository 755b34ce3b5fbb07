"""Test photos made with Pillow: real bytes of every kind the booth (or an attacker) may send."""

from __future__ import annotations

import io

from PIL import Image


def jpeg_bytes(
    size: tuple[int, int] = (640, 480), *, quality: int = 85, exif_orientation: int | None = None
) -> bytes:
    """A photo-like JPEG: a gradient with noise, so it compresses like a real photo."""
    base = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.effect_noise(size, 40).convert("RGB")
    image = Image.blend(base, noise, 0.4)
    buffer = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    image.save(buffer, "JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


def image_bytes(format: str, size: tuple[int, int] = (320, 240), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128).save(buffer, format)
    return buffer.getvalue()
