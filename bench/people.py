"""Times of the local provider's background and cutout operations on a 24 MP photograph of a
person, step by step and whole, in this process.

The photograph is NASA's portrait of Eileen Collins from scikit-image (a test dependency),
scaled up to 6000x4000; the backdrop is a 1920x1080 template image. The whole operation is the
provider's own ``process`` (decode, mask, composite, encode), one photo at a time, then two at
once (this machine's two cores).

Run it from the repository root::

    .venv/bin/python bench/people.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: bench/ is on the path, the repository not

import os  # noqa: E402

import django  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
django.setup()  # the provider reads translated messages and the executor's settings

from PIL import Image, ImageOps  # noqa: E402
from skimage.data import astronaut  # noqa: E402

from bench.prints import timed_ms  # noqa: E402
from media.images import open_upright  # noqa: E402
from media.people import person_mask  # noqa: E402
from providers.base import Deadline, ProviderRequest, TemplateImageInput  # noqa: E402
from providers.local import LocalProvider  # noqa: E402

SIZE = (6000, 4000)


def photograph(path: Path) -> int:
    ImageOps.fit(Image.fromarray(astronaut()), SIZE, Image.Resampling.BICUBIC).save(
        path, "JPEG", quality=90
    )
    return path.stat().st_size


def backdrop() -> TemplateImageInput:
    buffer = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((1920, 1080))
    Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient)
    ).save(buffer, "PNG")
    return TemplateImageInput(role="background", content_type="image/png", data=buffer.getvalue())


def request(path: Path, operation: str, templates: list[TemplateImageInput]) -> ProviderRequest:
    return ProviderRequest(
        job_id="bench",
        photo_path=path,
        photo_format="JPEG",
        photo_orientation=1,
        operation=operation,
        settings={},
        deadline=Deadline.in_seconds(60),
        template_images=templates,
    )


async def at_once(requests: list[ProviderRequest]) -> int:
    """Process ``requests`` together; the size of the first result, in bytes."""
    provider = LocalProvider()
    results = await asyncio.gather(*(provider.process(each) for each in requests))
    return len(results[0].data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        size = photograph(path)
        print(f"24 MP photograph, {size / 1024 / 1024:.1f} MB JPEG; median of {repeat}")
        person_mask(Image.new("RGB", (64, 64)))  # load the model once, as a server's first call

        def decode() -> Image.Image:
            return open_upright(path, mode="RGB", background="#ffffff")

        image = decode()
        mask = person_mask(image)
        steps = {
            "decode": decode,
            "person mask (downscale, model, feather, upscale)": lambda: person_mask(image),
            "a colour laid behind the person (with a copy of the photo)": lambda: (
                image.copy().paste((0, 255, 0), (0, 0, *SIZE), ImageOps.invert(mask))
            ),
            "JPEG encode, quality 90": lambda: image.save(io.BytesIO(), "JPEG", quality=90),
        }
        for name, step in steps.items():
            print(f"  {name}: {timed_ms(step, repeat):.0f} ms")
        cutout = image.copy()
        cutout.putalpha(mask)
        for level in (1, 6):  # the provider's level, and zlib's (and Pillow's) default
            started = time.perf_counter()
            encoded = io.BytesIO()
            cutout.save(encoded, "PNG", compress_level=level)
            ms = (time.perf_counter() - started) * 1000
            megabytes = encoded.tell() / 1024 / 1024
            print(f"  PNG encode of the cutout, level {level}: {ms:.0f} ms, {megabytes:.1f} MB")

        whole = {
            "background, colour": ("background", []),
            "background, 1920x1080 template": ("background", [backdrop()]),
            "cutout (PNG)": ("cutout", []),
        }
        for name, (operation, templates) in whole.items():
            one = request(path, operation, templates)
            ms = timed_ms(lambda one=one: asyncio.run(at_once([one])), repeat)
            two = timed_ms(lambda one=one: asyncio.run(at_once([one, one])), repeat)
            megabytes = asyncio.run(at_once([one])) / 1024 / 1024
            print(
                f"  whole operation, {name}: {ms:.0f} ms alone, {two:.0f} ms for two at once;"
                f" {megabytes:.1f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
