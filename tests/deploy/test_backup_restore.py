"""manage.py backup and restore, run as an operator runs them, on the suite's database: a job
with its result file, a changed setting and the secret key go into the archive and come back."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from ingest.models import Job, JobStatus
from media.models import StoredMedia
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.deploy.commands import command_env, manage, postgres_url

FORMATS = {"native": [], "json": ["--json"]}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def env(data_dir: Path, media_root: Path) -> dict[str, str]:
    return command_env(data_dir=data_dir, media_root=media_root)


@pytest.fixture
def event(booth: Booth, photo: bytes, media_root: Path) -> dict[str, object]:
    """What an event leaves behind: a job with its result file, a slot and a setting changed."""
    answer = booth.post_photo("slot-002", photo)
    assert answer.status_code == 200
    job = Job.objects.get()
    result = StoredMedia.objects.get(job=job)
    Slot.objects.filter(pk="slot-002").update(display_name="Black and white, wedding")
    GlobalSettings.objects.filter(pk=1).update(result_ttl_hours=5)
    return {
        "job_id": job.id,
        "result_name": result.storage_name,
        "result_bytes": (media_root / result.storage_name).read_bytes(),
    }


def back_up(env: dict[str, str], archive: Path, format_name: str) -> None:
    done = manage("backup", str(archive), *FORMATS[format_name], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"backup: wrote {archive} ")


def wipe(media_root: Path, data_dir: Path) -> None:
    Job.objects.all().delete()
    StoredMedia.objects.all().delete()
    Slot.objects.filter(pk="slot-002").update(display_name="Black and white")
    GlobalSettings.objects.filter(pk=1).update(result_ttl_hours=72)
    for child in media_root.iterdir():
        if child.name != "tmp":
            shutil.rmtree(child)
    (data_dir / "secret_key").write_text("another-installation's-key")


@pytest.mark.parametrize("format_name", FORMATS)
def test_backup_then_restore_brings_back_jobs_files_settings_and_the_secret_key(
    format_name: str,
    event: dict[str, object],
    env: dict[str, str],
    media_root: Path,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "event.tar.gz"
    back_up(env, archive, format_name)
    secret_key = (data_dir / "secret_key").read_text()
    wipe(media_root, data_dir)

    done = manage("restore", "--force", str(archive), env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"restore: restored {archive} ")
    job = Job.objects.get()
    assert job.id == event["job_id"]
    assert job.status == JobStatus.DONE
    assert StoredMedia.objects.get(job=job).storage_name == event["result_name"]
    assert (media_root / event["result_name"]).read_bytes() == event["result_bytes"]
    assert Slot.objects.get(pk="slot-002").display_name == "Black and white, wedding"
    assert GlobalSettings.objects.get(pk=1).result_ttl_hours == 5
    assert (data_dir / "secret_key").read_text() == secret_key


def test_the_archive_lists_what_it_holds(
    event: dict[str, object], env: dict[str, str], tmp_path: Path
) -> None:
    archive = tmp_path / "event.tar.gz"

    back_up(env, archive, "native")

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert names[0] == "manifest.json"
    assert f"media/{event['result_name']}" in names
    assert "secret_key" in names
    assert manifest["database"]["vendor"] == connection.vendor
    assert manifest["database"]["file"] in names
    assert manifest["media"]["files"] == sum(name.startswith("media/") for name in names)
    assert not any(name.startswith("media/tmp/") for name in names)


def test_restore_refuses_a_database_in_use_without_force(
    event: dict[str, object], env: dict[str, str], media_root: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "event.tar.gz"
    back_up(env, archive, "native")
    Job.objects.all().delete()

    done = manage("restore", str(archive), env=env)

    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("restore: ")
    assert line.endswith("pass --force to replace them with the archive's")
    assert not Job.objects.exists()
    assert (media_root / event["result_name"]).exists()


@pytest.fixture
def new_database_url(tmp_path: Path) -> Iterator[str]:
    """A database that does not exist yet, on the suite's database server."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"photochanger_restore_{uuid.uuid4().hex[:12]}"
    yield postgres_url(name)
    with psycopg.connect(postgres_url("postgres"), autocommit=True) as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def job_ids(database_url: str) -> list[uuid.UUID]:
    query = "SELECT id FROM ingest_job"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as database:
            return [uuid.UUID(row[0]) for row in database.execute(query)]
    with psycopg.connect(database_url) as database:
        return [row[0] for row in database.execute(query)]


@pytest.mark.parametrize("format_name", FORMATS)
def test_restore_sets_up_a_new_installation_from_the_archive(
    format_name: str,
    event: dict[str, object],
    env: dict[str, str],
    new_database_url: str,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "event.tar.gz"
    back_up(env, archive, format_name)
    elsewhere = tmp_path / "new-machine"
    new_env = command_env(
        data_dir=elsewhere, media_root=elsewhere / "media", DATABASE_URL=new_database_url
    )

    done = manage("restore", str(archive), env=new_env)

    assert done.returncode == 0, done.stderr
    assert job_ids(new_database_url) == [event["job_id"]]
    restored = elsewhere / "media" / event["result_name"]
    assert restored.read_bytes() == event["result_bytes"]
    assert (elsewhere / "secret_key").read_text() == (data_dir / "secret_key").read_text()
