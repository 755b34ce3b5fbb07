"""Times of the print steps on a 24 MP photo: laying a result out for print (media.prints) and
stamping the guest's QR code (media.stamps), in this process, on one core.

Run it from the repository root::

    .venv/bin/python bench/prints.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: bench/ is on the path, the repository not

from PIL import Image  # noqa: E402

from bench.ingest import photo_make  # noqa: E402
from media.prints import PrintLayout, print_ready  # noqa: E402
from media.stamps import qr_stamped  # noqa: E402


def layout(fit: str) -> PrintLayout:
    return PrintLayout(
        width=1200, height=1800, fit=fit, background="#ffffff", dpi=300, format="jpeg", quality=92
    )


def timed_ms(work: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as folder:
        photo = photo_make(Path(folder) / "photo.jpg", size=(6000, 4000), quality=80)
    print(f"24 MP photo, {len(photo) / 1024 / 1024:.1f} MB; median of {repeat}")
    for fit in ("crop", "crop-faces", "contain"):  # crop-faces: its first run loads the model
        ms = timed_ms(lambda fit=fit: print_ready(photo, layout(fit)), repeat)
        print(f"  4x6 in portrait at 300 dpi, {fit}: {ms:.0f} ms")
    print_size = Image.new("RGB", (1200, 1800))
    url = "https://booth.example.org/r/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    ms = timed_ms(lambda: qr_stamped(print_size, url=url, corner="bottom-right"), repeat)
    print(f"  QR code stamped on the 4x6 print: {ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
