"""python manage.py cleanup_media: the cron job that deletes what has had its time."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ingest.jobs import STALE_MARGIN, job_start, job_succeed
from ingest.models import Job, JobStatus
from media.models import StoredMedia
from media.services import provider_media_publish, thumbnail_for_job
from slots.models import Slot, TemplateImage
from slots.services import template_image_add
from tests.images import image_bytes, jpeg_bytes
from tests.live import REPO, stored_files

NOTHING = (
    "cleanup_media: deleted 0 results, 0 thumbnails, 0 provider media, 0 orphan files, "
    "0 request log rows; "
    "closed 0 stale jobs; 0 failures"
)


class StubbornStorage(FileSystemStorage):
    """The media folder, except that the storage refuses to delete the names in ``refused``."""

    refused: ClassVar[set[str]] = set()

    def delete(self, name: str) -> None:
        if name in self.refused:
            raise PermissionError(f"refused to delete {name}")
        super().delete(name)


def cleanup(*args: str) -> tuple[int, list[str]]:
    """Run the command in this process; its exit status and the lines it printed."""
    out = io.StringIO()
    try:
        call_command("cleanup_media", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:
        return exit_.code, out.getvalue().splitlines()
    return 0, out.getvalue().splitlines()


def done_job(*, expires_at: datetime, thumbnail: bool = True) -> Job:
    """A done job with its result (and thumbnail) stored, expiring at ``expires_at``."""
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    job_succeed(job_id=job.id, result=jpeg_bytes((64, 48)), image_format="JPEG", ttl_hours=72)
    if thumbnail:
        thumbnail_for_job(job_id=job.id)
    Job.objects.filter(pk=job.id).update(result_expires_at=expires_at)
    StoredMedia.objects.filter(job_id=job.id).update(expires_at=expires_at)
    return job


def provider_media(*, expires_at: datetime, tmp_path: Path) -> StoredMedia:
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    Job.objects.filter(pk=job.id).update(status=JobStatus.FAILED)  # not what is tested here
    photo = tmp_path / f"{job.id}.jpg"
    photo.write_bytes(jpeg_bytes((64, 48)))
    published = provider_media_publish(
        job_id=job.id, files=[(photo, "image/jpeg")], expires_at=expires_at
    )
    return published[0]


def template_image() -> TemplateImage:
    data = image_bytes("PNG", (32, 24))
    with TemporaryUploadedFile("overlay.png", "image/png", len(data), None) as upload:
        upload.write(data)
        upload.seek(0)
        return template_image_add(
            slot=Slot.objects.get(pk="slot-005"), role="overlay", upload=upload
        )


def orphan(media_root: Path, name: str, *, age: timedelta) -> Path:
    """A file no row points to, last written ``age`` ago."""
    path = media_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left behind")
    make_old(path, age)
    return path


def make_old(path: Path, age: timedelta) -> None:
    written = (timezone.now() - age).timestamp()
    os.utime(path, (written, written))


def snapshot(media_root: Path) -> tuple[object, ...]:
    media = sorted(StoredMedia.objects.values_list("pk", "storage_name", "expires_at"))
    jobs = sorted(Job.objects.values_list("pk", "status", "failure_reason", "finished_at"))
    files = {name: (media_root / name).stat().st_mtime for name in stored_files(media_root)}
    return media, jobs, files


@pytest.fixture
def past(configured: None) -> datetime:
    return timezone.now() - timedelta(minutes=5)


@pytest.fixture
def future(configured: None) -> datetime:
    return timezone.now() + timedelta(hours=5)


def test_dry_run_reports_what_it_would_do_and_changes_nothing(
    past: datetime, future: datetime, media_root: Path, tmp_path: Path
) -> None:
    done_job(expires_at=past)
    done_job(expires_at=past)
    done_job(expires_at=future)
    provider_media(expires_at=past, tmp_path=tmp_path)
    stale = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    Job.objects.filter(pk=stale.pk).update(deadline_at=timezone.now() - 2 * STALE_MARGIN)
    orphan(media_root, "results/lost.jpg", age=timedelta(hours=2))
    before = snapshot(media_root)

    status, lines = cleanup("--dry-run")

    assert status == 0
    assert lines == [
        "cleanup_media (dry run): would delete 2 results, 2 thumbnails, 1 provider media, "
        "1 orphan file, 0 request log rows; would close 1 stale job; 0 failures"
    ]
    assert snapshot(media_root) == before


def test_run_deletes_exactly_the_expired_results_thumbnails_and_provider_media(
    past: datetime, future: datetime, media_root: Path, tmp_path: Path
) -> None:
    expired_job = done_job(expires_at=past)
    kept_job = done_job(expires_at=future)
    expired_media = provider_media(expires_at=past, tmp_path=tmp_path)
    kept_media = provider_media(expires_at=future, tmp_path=tmp_path)
    kept = set(
        StoredMedia.objects.filter(job_id=kept_job.pk).values_list("storage_name", flat=True)
    ) | {kept_media.storage_name}

    status, lines = cleanup()

    assert status == 0
    assert lines == [
        "cleanup_media: deleted 1 result, 1 thumbnail, 1 provider media, 0 orphan files, "
        "0 request log rows; "
        "closed 0 stale jobs; 0 failures"
    ]
    assert set(StoredMedia.objects.values_list("storage_name", flat=True)) == kept
    assert stored_files(media_root) == kept
    assert not StoredMedia.objects.filter(job_id=expired_job.pk).exists()
    assert not StoredMedia.objects.filter(pk=expired_media.pk).exists()
    # The jobs themselves stay, for the history and the stats.
    assert Job.objects.filter(pk=expired_job.pk, status=JobStatus.DONE).exists()


def test_a_second_run_finds_nothing_to_do(past: datetime, media_root: Path, tmp_path: Path) -> None:
    done_job(expires_at=past)
    provider_media(expires_at=past, tmp_path=tmp_path)
    orphan(media_root, "tmp/tmpabc123.upload.jpg", age=timedelta(hours=3))
    assert cleanup()[0] == 0

    assert cleanup() == (0, [NOTHING])


def test_a_result_is_deleted_once_its_lifetime_has_passed_and_not_before(
    configured: None, media_root: Path
) -> None:
    job = job_start(
        slot=Slot.objects.get(pk="slot-001"), deadline_at=timezone.now() + timedelta(seconds=48)
    )
    job_succeed(job_id=job.id, result=jpeg_bytes((64, 48)), image_format="JPEG", ttl_hours=1)

    with time_machine.travel(timezone.now() + timedelta(minutes=59), tick=False):
        assert cleanup() == (0, [NOTHING])
    with time_machine.travel(timezone.now() + timedelta(minutes=61), tick=False):
        status, lines = cleanup()

    assert status == 0
    assert lines[0].startswith("cleanup_media: deleted 1 result, 0 thumbnails,")
    assert stored_files(media_root) == set()


def test_a_stale_pending_job_is_closed_as_failed_and_a_fresh_one_is_left(
    configured: None,
) -> None:
    slot = Slot.objects.get(pk="slot-001")
    stale = job_start(slot=slot, deadline_at=timezone.now() + timedelta(seconds=48))
    fresh = job_start(slot=slot, deadline_at=timezone.now() + timedelta(seconds=48))
    Job.objects.filter(pk=stale.pk).update(
        deadline_at=timezone.now() - STALE_MARGIN - timedelta(seconds=30)
    )

    status, lines = cleanup()

    assert status == 0
    assert "closed 1 stale job;" in lines[0]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.failure_reason) == (JobStatus.FAILED, "internal_error")
    assert stale.finished_at is not None
    assert fresh.status == JobStatus.PENDING


def test_orphan_files_older_than_the_grace_are_removed_and_younger_ones_kept(
    configured: None, media_root: Path
) -> None:
    orphan(media_root, "results/crashed-before-its-row.jpg", age=timedelta(minutes=61))
    orphan(media_root, "tmp/tmpq1w2e3.upload.jpg", age=timedelta(hours=5))
    young = orphan(media_root, "results/row-coming.jpg", age=timedelta(minutes=59))
    young_upload = orphan(media_root, "tmp/tmpr4t5y6.upload.jpg", age=timedelta(seconds=5))
    template = template_image()
    make_old(media_root / template.storage_name, timedelta(days=30))

    status, lines = cleanup()

    assert status == 0
    assert "2 orphan files," in lines[0]
    assert stored_files(media_root) == {
        young.relative_to(media_root).as_posix(),
        young_upload.relative_to(media_root).as_posix(),
        template.storage_name,
    }


def test_grace_minutes_sets_how_old_an_orphan_must_be(configured: None, media_root: Path) -> None:
    orphan(media_root, "thumbnails/lost.webp", age=timedelta(minutes=30))
    assert "0 orphan files," in cleanup()[1][0]

    status, lines = cleanup("--grace-minutes", "10")

    assert status == 0
    assert "1 orphan file," in lines[0]
    assert stored_files(media_root) == set()


@override_settings(
    STORAGES={
        "default": {"BACKEND": "tests.media.test_cleanup_media.StubbornStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
)
def test_a_file_the_storage_refuses_to_delete_exits_1_and_the_rest_is_cleaned(
    past: datetime, media_root: Path, tmp_path: Path
) -> None:
    refused = done_job(expires_at=past, thumbnail=False)
    done_job(expires_at=past)
    provider_media(expires_at=past, tmp_path=tmp_path)
    refused_name = StoredMedia.objects.get(job_id=refused.pk).storage_name
    StubbornStorage.refused = {refused_name}
    try:
        status, lines = cleanup()
    finally:
        StubbornStorage.refused = set()

    assert status == 1
    assert lines == [
        "cleanup_media: deleted 1 result, 1 thumbnail, 1 provider media, 0 orphan files, "
        "0 request log rows; "
        "closed 0 stale jobs; 1 failure"
    ]
    # The row stays with its file, so the next run tries again, and succeeds.
    assert list(StoredMedia.objects.values_list("storage_name", flat=True)) == [refused_name]
    assert stored_files(media_root) == {refused_name}
    assert cleanup()[1][0].startswith("cleanup_media: deleted 1 result, 0 thumbnails,")
    assert stored_files(media_root) == set()


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("sqlite:////nonexistent-folder/photochanger.sqlite3", id="sqlite"),
        # The connection pool waits for its timeout (10 s) before it gives up: run on the
        # suite's PostgreSQL run only, where PostgreSQL is what is set up.
        pytest.param(
            "postgres://postgres@127.0.0.1:1/photochanger",
            id="postgresql",
            marks=pytest.mark.skipif(
                connection.vendor != "postgresql", reason="the PostgreSQL run covers it"
            ),
        ),
    ],
)
def test_an_unreachable_database_exits_2_with_one_line_and_no_traceback(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }

    done = subprocess.run(
        [sys.executable, "manage.py", "cleanup_media"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("cleanup_media: the database is unreachable: ")
