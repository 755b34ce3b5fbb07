"""Results on their way to a bucket, kept on this server's disk until they are there.

With media in a bucket, a booth's answer does not wait for the bucket: the result is written
here first (a rename for a photo passed through), its row and its job are closed, the booth is
answered from the bytes at hand, and the file goes to the bucket on a thread of its own. Over
an event's uplink a 10 MB PUT takes seconds that the guest at the booth would otherwise wait
for; on this machine, against the local S3 server of the tests, it is ~50 ms of the 123 ms a
10 MB passthrough took when the booth waited for it (bench/ingest.py --s3).

Until the upload is done, this server reads the result from its copy here (guest downloads,
thumbnails, a re-send); other servers find it in the bucket once it is there. A server that
stops meanwhile finishes its uploads first; one that dies sends what it left when it starts
again (media.services.staged_results_resume), or cleanup_media sweeps the copies with the
uploads left in the upload folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

from photochanger.executors import upload_executor

logger = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3
RETRY_SECONDS = 2.0


def storage_is_remote() -> bool:
    """True when media live anywhere but this server's own folder (a bucket)."""
    return not isinstance(default_storage, FileSystemStorage)


def staged_path(name: str) -> Path:
    # Inside the upload folder: the booth's photo moves here with a rename, and what a dead
    # server leaves is swept with the uploads it left (media.services.orphan_files_delete).
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / "staged" / name


def result_stage(name: str, content: File | bytes) -> None:
    """Keep ``content`` here as the result ``name`` until result_upload_start sends it."""
    path = staged_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif hasattr(content, "temporary_file_path"):
        # The upload itself: moved, not copied. Its open handle still reads it for the answer.
        os.replace(content.temporary_file_path(), path)
    else:
        content.seek(0)
        with path.open("wb") as copy:
            shutil.copyfileobj(content, copy)


def staged_open(name: str) -> File | None:
    """This server's copy of ``name`` while it is on its way to the bucket, else None."""
    try:
        return File(staged_path(name).open("rb"), name=name)
    except FileNotFoundError:
        return None


def staged_names() -> list[str]:
    """The results staged on this server, waiting for the bucket."""
    root = staged_path("")
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def staged_delete(name: str) -> None:
    staged_path(name).unlink(missing_ok=True)


def result_upload_start(name: str) -> None:
    """Send the staged result ``name`` to the bucket, after the answer, on a thread of its own."""
    upload_executor.submit(_upload, name)


def _upload(name: str) -> None:
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        copy = staged_open(name)
        if copy is None:
            return  # deleted meanwhile: its job was closed otherwise
        try:
            with copy:
                default_storage.save(name, copy)
        except Exception as error:
            logger.warning(
                "%s: upload to the bucket failed (attempt %d of %d): %r",
                name,
                attempt,
                UPLOAD_ATTEMPTS,
                error,
            )
            time.sleep(RETRY_SECONDS * attempt)
            continue
        staged_delete(name)
        return
    logger.error(
        "%s could not be stored in the bucket: its guest link will say the photo is not "
        "available (the copy stays in the upload folder until cleanup_media)",
        name,
    )
