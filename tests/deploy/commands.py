"""Our management commands in a subprocess, as an operator or a service manager runs them."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from tests.live import REPO, database_url

# Generous: a subprocess that hangs fails the test instead of the suite.
COMMAND_TIMEOUT = 120


def command_env(*, data_dir: Path, media_root: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run on the suite's database, data folder and media."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(data_dir),
        "MEDIA_ROOT": str(media_root),
        # Generated into the data folder, as on a fresh install.
        "SECRET_KEY": "",
        "INGEST_PASSWORD": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def postgres_url(database: str, *, user: str | None = None, password: str | None = None) -> str:
    """The suite's PostgreSQL server, with another database (and role)."""
    settings = connection.settings_dict
    user = user if user is not None else settings["USER"] or ""
    password = password if password is not None else settings["PASSWORD"] or ""
    credentials = f"{user}:{password}" if password else user
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{database}"


@dataclass
class Serving:
    process: subprocess.Popen
    lines: list[str]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve_until_listening(env: dict[str, str]) -> Serving:
    """``manage.py serve`` on a free loopback port, once it says where it listens (or has
    ended: then ``process.returncode`` is set)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    arrived: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            arrived.put(line)
        arrived.put(None)

    threading.Thread(target=read, daemon=True).start()
    while True:
        try:
            line = arrived.get(timeout=COMMAND_TIMEOUT)
        except queue.Empty:
            process.kill()
            raise
        if line is None:
            process.wait()
            break
        lines.append(line.rstrip("\n"))
        if "PhotoChanger listening on" in line:
            break
    return Serving(process, lines)
