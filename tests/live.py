"""Our real server (``manage.py serve``: daphne) in a subprocess, on the test database.

For what only a socket shows: oversized and chunked bodies, disconnects, several processes,
providers that download from us. Tests talk to it over loopback HTTP the way a photo booth does.
It shares the test database and the media folder with the test process, so tests can read the
job rows and files it leaves. Everything else runs in-process (tests/booth.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from django.db import connection

from ingest.models import Job, JobStatus
from media.models import StoredMedia
from slots.models import TemplateImage
from tests.booth import Booth
from tests.s3 import Bucket

REPO = Path(__file__).resolve().parent.parent
_READY = re.compile(r"PhotoChanger listening on (http://\S+)")


def database_url() -> str:
    """The URL of the test database pytest-django created, for the server process."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    credentials = settings["USER"] or ""
    if settings["PASSWORD"]:
        credentials += f":{settings['PASSWORD']}"
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{settings['NAME']}"


@dataclass
class ServerProcess:
    process: subprocess.Popen
    base_url: str
    log_path: Path
    _log_offset: int = 0
    _lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, *, media_root: Path, data_dir: Path, extra_env: dict[str, str]) -> ServerProcess:
        log_path = data_dir / "server.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATA_DIR": str(data_dir),
            "MEDIA_ROOT": str(media_root),
            "INGEST_PASSWORD": "",
            "LOG_LEVEL": "INFO",
            # The suite's settings (tests/settings.py): the server checks the hashes tests store.
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONUNBUFFERED": "1",
            # The server writes its booth request log on its own, as in production.
            "BOOTH_REQUEST_LOG_SECONDS": "0.2",
            **extra_env,
        }
        log = log_path.open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--skip-migrate",
                "--proxy-headers",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        base_url = cls._wait_until_listening(process, log)
        return cls(process=process, base_url=base_url, log_path=log_path)

    @staticmethod
    def _wait_until_listening(process: subprocess.Popen, log: object) -> str:
        found: list[str] = []

        def read_stdout() -> None:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if not found and (match := _READY.search(line)):
                    found.append(match.group(1).rstrip("/"))

        threading.Thread(target=read_stdout, daemon=True).start()
        deadline = time.monotonic() + 60
        while not found:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start; see its log")
            time.sleep(0.05)
        return found[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def new_log(self) -> str:
        """What the server logged since the last call."""
        text = self.log_path.read_text(errors="replace")
        new, self._log_offset = text[self._log_offset :], len(text)
        return new


@contextmanager
def server_pair(
    tmp_path: Path, *, redis_url: str, media_root: Path | None = None, extra_env: dict[str, str]
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Servers A and B on the test database and the Redis database ``redis_url`` (emptied
    before and after), sharing ``media_root``, or (None) each with a folder of its own as two
    machines have. Afterwards both must have logged no traceback."""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            folder = media_root or tmp_path / name / "media"
            folder.mkdir(exist_ok=True)
            started.append(
                ServerProcess.start(
                    media_root=folder,
                    data_dir=tmp_path / name,
                    extra_env={"REDIS_URL": redis_url, **extra_env},
                )
            )
        yield started[0], started[1]
        for server in started:
            log = server.new_log()
            assert "Traceback" not in log, log
    finally:
        for server in started:
            server.stop()
        store.flushdb()
        store.close()


class LiveBooth(Booth):
    """Sends photos to the live server as a booth would, over loopback HTTP."""

    def __init__(self, base_url: str, *, address: str | None = None) -> None:
        self.base_url = base_url
        super().__init__(address=address)

    def connect(self) -> httpx.Client:
        # The test server trusts X-Forwarded-For (serve --proxy-headers): the booth's address.
        return httpx.Client(
            base_url=self.base_url, timeout=180, headers={"X-Forwarded-For": self.address}
        )

    def close(self) -> None:
        self.http.close()


def stored_files(media_root: Path) -> set[str]:
    """Storage names of every file under the media folder, temporary uploads included."""
    return {
        path.relative_to(media_root).as_posix() for path in media_root.rglob("*") if path.is_file()
    }


def consistency_problems(media_root: Path, bucket: Bucket | None = None) -> list[str]:
    """What breaks 'every job ends final, every file has a row, every row has its file'; with
    media in ``bucket``, its objects are the stored files (the folder keeps only uploads)."""
    problems = []
    pending = list(Job.objects.filter(status=JobStatus.PENDING).values_list("id", flat=True))
    if pending:
        problems.append(f"jobs still pending: {pending}")
    # After-answer work is part of a job's life: its digest must land.
    done = Job.objects.filter(status=JobStatus.DONE)
    if unhashed := list(done.filter(upload_sha256="").values_list("id", flat=True)):
        problems.append(f"done jobs without their upload digest: {unhashed}")
    files = stored_files(media_root)
    if bucket is not None:
        files |= bucket.keys()
    rows = set(StoredMedia.objects.values_list("storage_name", flat=True))
    rows |= set(TemplateImage.objects.values_list("storage_name", flat=True))
    if orphans := files - rows:
        problems.append(f"files without a row: {sorted(orphans)}")
    if missing := rows - files:
        problems.append(f"rows without a file: {sorted(missing)}")
    return problems


def wait_until_consistent(
    media_root: Path, timeout: float = 5.0, *, bucket: Bucket | None = None
) -> Iterator[None] | None:
    """Wait for after-answer work (thumbnails, upload clean-up) to settle, then assert."""
    deadline = time.monotonic() + timeout
    while True:
        problems = consistency_problems(media_root, bucket)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not problems, problems
    return None
