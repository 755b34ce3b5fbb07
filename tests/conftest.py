from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.test import override_settings

from photochanger.request_log import request_log
from slots.models import GlobalSettings
from slots.services import slots_ensure_defaults
from tests.booth import INGEST_PASSWORD, Booth
from tests.fakes.server import free_port
from tests.images import jpeg_bytes
from tests.live import LiveBooth, ServerProcess, wait_until_consistent
from tests.s3 import Bucket, S3Server, bucket_create

pytest_plugins = ["tests.fakes.gemini", "tests.fakes.openai", "tests.fakes.turbotext"]


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session", autouse=True)
def _storage_in_temp_folder(media_root: Path) -> Iterator[None]:
    with override_settings(
        MEDIA_ROOT=str(media_root), FILE_UPLOAD_TEMP_DIR=str(media_root / "tmp")
    ):
        (media_root / "tmp").mkdir(exist_ok=True)
        yield


@pytest.fixture(scope="session", autouse=True)
def provider_ports() -> Iterator[dict[str, int]]:
    """One loopback port per provider for the whole run, where its fake server listens while a
    test uses it. Provider addresses come only from the environment (GEMINI_BASE_URL, …), read
    once at start-up, so the suite and every server process it starts point there."""
    ports = {provider: free_port() for provider in ("gemini", "openai", "turbotext")}
    urls = {provider: f"http://127.0.0.1:{port}" for provider, port in ports.items()}
    with override_settings(PROVIDER_BASE_URLS=urls), pytest.MonkeyPatch.context() as patch:
        for provider, url in urls.items():
            patch.setenv(f"{provider.upper()}_BASE_URL", url)
        yield ports


@pytest.fixture(scope="session")
def ingest_password_hash() -> str:
    # One slow PBKDF2 per session; every test stores this same hash, so the server's
    # verified-digest cache stays warm across tests.
    return make_password(INGEST_PASSWORD)


@pytest.fixture(scope="session")
def server_process(
    django_db_setup: None,
    django_db_blocker: object,
    media_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    server = ServerProcess.start(
        media_root=media_root, data_dir=tmp_path_factory.mktemp("server"), extra_env={}
    )
    yield server
    server.stop()


@pytest.fixture
def configured(transactional_db: None, ingest_password_hash: str, media_root: Path) -> None:
    """The 15 slots and the settings row, as after a fresh install, with a known password,
    and an empty cache."""
    cache.clear()
    request_log.discard()
    slots_ensure_defaults()
    GlobalSettings.objects.filter(pk=1).update(
        ingest_password_hash=ingest_password_hash, ingest_password_set_by="tests"
    )
    for child in media_root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    (media_root / "tmp").mkdir()


@pytest.fixture
def booth(configured: None, media_root: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Booth]:
    """A booth talking to the server in-process. After the test: no error with a traceback
    was logged, every job is final, and every file in storage has its row."""
    client = Booth()
    yield client
    wait_until_consistent(media_root)
    tracebacks = [
        record for record in caplog.records if record.exc_info and record.levelno >= logging.ERROR
    ]
    assert not tracebacks, [record.getMessage() for record in tracebacks]


@pytest.fixture
def live_booth(
    configured: None, server_process: ServerProcess, media_root: Path
) -> Iterator[LiveBooth]:
    """A booth pointed at the live server, for what only a socket shows. After the test: no
    500 was logged, every job is final, and every file in storage has its row."""
    server_process.new_log()
    client = LiveBooth(server_process.base_url)
    yield client
    client.close()
    wait_until_consistent(media_root)
    log = server_process.new_log()
    assert "Traceback" not in log, log


@pytest.fixture
def photo() -> bytes:
    return jpeg_bytes()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A local S3-compatible server (moto's) for the whole run, started by the first test
    that needs it."""
    server = S3Server.start(tmp_path_factory.mktemp("s3") / "s3-server.log")
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    """A new, empty bucket (the test decides whether this process's media go there)."""
    return bucket_create(s3_server)


@pytest.fixture
def s3_booth(
    configured: None, bucket: Bucket, media_root: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Booth]:
    """The booth fixture with this process's media in ``bucket``: after the test, every job
    is final, every object in the bucket has its row, and no upload is left on disk."""
    with bucket.as_media_storage():
        client = Booth()
        yield client
        wait_until_consistent(media_root, bucket=bucket)
    tracebacks = [
        record for record in caplog.records if record.exc_info and record.levelno >= logging.ERROR
    ]
    assert not tracebacks, [record.getMessage() for record in tracebacks]
