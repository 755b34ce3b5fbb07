"""Benchmark of the event's photos as one ZIP (GET /api/results/archive): is memory flat?

The server is started the README way (``manage.py serve``, fresh data folder). The booth sends
``--photos`` photos (~1.8 MB each) to the passthrough slot, then an event admin downloads the
ZIP of all of them while the server's resident memory (VmRSS) is sampled every 20 ms. Printed:
the server's RSS before and at peak during the download, the archive's size, the time and
throughput, and a check that the archive holds every photo. The archive is built while it is
sent, so the peak should not grow with the number of photos: run it with 50 and with 500.

Run it from the repository root::

    .venv/bin/python bench/archive.py [--photos N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: bench/ is on the path, the repository not

import httpx  # noqa: E402

from bench.ingest import (  # noqa: E402
    HOST,
    PASSWORD,
    BenchError,
    FreshPhotos,
    ours_start,
    photo_make,
)
from bench.load import _rss_kb, server_shell  # noqa: E402

STAFF_USER_SCRIPT = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from photochanger.tokens import api_token_create
user = get_user_model().objects.create_user("bench-admin", is_staff=True)
user.groups.add(Group.objects.get(name="Event admin"))
print(api_token_create(user=user, name="bench")[1])
"""


def staff_token(data_dir: Path) -> str:
    printed = server_shell(data_dir, STAFF_USER_SCRIPT, what="make a staff token")
    return printed.strip().splitlines()[-1]


class PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak_kb = max(self.peak_kb, _rss_kb(self.pid))
            time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200, help="photos in the archive")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photochanger-archive-"))
    server = None
    try:
        photo = photo_make(work / "photo.jpg", size=(2400, 1600), quality=85)
        server = ours_start(work)
        base = f"http://{HOST}:{server.port}"
        # Each one a new photo, as a booth's are (a re-sent one is answered from its first job).
        fresh = FreshPhotos(photo)
        with httpx.Client(base_url=base, timeout=120) as booth:
            for _ in range(arguments.photos):
                answer = booth.post(
                    f"/api/ingest/slot-001?password={PASSWORD}",
                    files={"fileToUpload": ("photo.jpg", bytes(fresh.next()), "image/jpeg")},
                )
                if answer.status_code != 200:
                    raise BenchError(f"the booth got {answer.status_code}: {answer.text}")
        token = staff_token(work / "data")
        idle_kb = _rss_kb(server.pid)
        monitor = PeakRss(server.pid)
        monitor.start()
        target = work / "photos.zip"
        started = time.monotonic()
        with (
            httpx.Client(base_url=base, timeout=300) as staff,
            staff.stream(
                "GET", "/api/results/archive", headers={"Authorization": f"Bearer {token}"}
            ) as response,
            target.open("wb") as file,
        ):
            if response.status_code != 200:
                raise BenchError(f"the download got {response.status_code}")
            for chunk in response.iter_bytes():
                file.write(chunk)
        seconds = time.monotonic() - started
        monitor.stopping.set()
        monitor.join()
        with zipfile.ZipFile(target) as archive:
            members = len(archive.namelist())
        size_mb = target.stat().st_size / 1024 / 1024
        print(f"{arguments.photos} photos of {len(photo) / 1024 / 1024:.1f} MB sent to slot-001")
        print(f"archive: {members} members, {size_mb:.0f} MB in {seconds:.1f} s", end="")
        print(f" ({size_mb / seconds:.0f} MB/s)")
        print(f"server RSS: before the download {idle_kb / 1024:.0f} MB, ", end="")
        print(f"peak during it {monitor.peak_kb / 1024:.0f} MB")
        return 0 if members == arguments.photos else 1
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
