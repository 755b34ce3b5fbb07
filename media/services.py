"""Writes of stored media. This app is the only one that touches storage."""

from __future__ import annotations

import io
import logging
import posixpath
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings as django_settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps

from media.images import CONTENT_TYPES, EXTENSIONS, PhotoInfo, flattened, photo_inspect
from media.models import MediaKind, StoredMedia
from media.selectors import media_file_read
from media.staging import (
    result_stage,
    result_upload_start,
    staged_delete,
    staged_names,
    storage_is_remote,
)

logger = logging.getLogger(__name__)

_FORMATS_BY_CONTENT_TYPE = {content_type: name for name, content_type in CONTENT_TYPES.items()}

THUMBNAIL_PIXELS = 256
# Which of the given storage names another app's rows point to (files media must not delete).
KeptNames = Callable[[list[str]], set[str]]


def result_file_save(*, job_id: uuid.UUID, content: File | bytes, image_format: str) -> str:
    """Save a job's result file and return its storage name. ``content`` may be the upload
    itself (a passthrough); on a local disk that is a rename, not a copy. With media in a
    bucket the file is staged on this server until result_file_publish (media.staging)."""
    name = f"results/{job_id}.{EXTENSIONS[image_format]}"
    if storage_is_remote():
        name = default_storage.get_available_name(name)
        result_stage(name, content)
        return name
    if isinstance(content, bytes):
        content = ContentFile(content)
    return default_storage.save(name, content)


def result_file_publish(*, storage_name: str) -> None:
    """Once its row is written: a staged result starts for the bucket (nothing to do on a
    local disk, where it is stored already)."""
    if storage_is_remote():
        result_upload_start(storage_name)


def result_media_create(
    *,
    job_id: uuid.UUID,
    storage_name: str,
    image_format: str,
    size_bytes: int,
    expires_at: datetime,
) -> StoredMedia:
    """The row that points to a saved result file (see result_file_save)."""
    return StoredMedia.objects.create(
        kind=MediaKind.RESULT,
        job_id=job_id,
        storage_name=storage_name,
        content_type=CONTENT_TYPES[image_format],
        size_bytes=size_bytes,
        expires_at=expires_at,
    )


def staged_results_resume() -> int:
    """At start: results an earlier run of this server left on their way to the bucket are
    sent again when their row exists, and removed when it does not (their job ended without
    them). How many are sent."""
    if not storage_is_remote():
        return 0
    names = staged_names()
    rows = StoredMedia.objects.filter(storage_name__in=names)
    kept = set(rows.values_list("storage_name", flat=True))
    for name in names:
        if name in kept:
            result_upload_start(name)
        else:
            staged_delete(name)
    return len(kept)


def media_file_delete(*, storage_name: str) -> None:
    staged_delete(storage_name)
    default_storage.delete(storage_name)


def thumbnail_for_job(*, job_id: uuid.UUID) -> StoredMedia | None:
    """The job's thumbnail, made on first request. None when the job has no result.

    Made when first shown rather than after each answer: decoding a 24 MP photo, even scaled
    down, costs tens of milliseconds of CPU that the next guest's photo needs more.
    """
    media = StoredMedia.objects.filter(job_id=job_id)
    thumbnail = media.filter(kind=MediaKind.THUMBNAIL).first()
    if thumbnail is not None:
        return thumbnail
    result = media.filter(kind=MediaKind.RESULT).first()
    if result is None:
        return None
    return thumbnail_store(result=result, data=thumbnail_render(result=result))


def thumbnail_render(*, result: StoredMedia) -> bytes:
    """A small WebP of a result, for the admin. Pure image work: no database."""
    with media_file_read(result.storage_name) as source, Image.open(source) as image:
        # draft() lets the JPEG decoder scale down by up to 8x while decoding: far cheaper
        # than decoding a 24 MP photo whole and resizing it.
        image.draft("RGB", (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        image = ImageOps.exif_transpose(image)
        image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        buffer = io.BytesIO()
        # Transparent parts on white: the admin and the gallery show them on light pages.
        flattened(image).save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def thumbnail_store(*, result: StoredMedia, data: bytes) -> StoredMedia:
    """Keep a result's thumbnail; it expires with the result."""
    return _media_create(
        kind=MediaKind.THUMBNAIL,
        job_id=result.job_id,
        name=f"thumbnails/{result.job_id}.webp",
        content=data,
        content_type="image/webp",
        expires_at=result.expires_at,
    )


def _media_create(
    *,
    kind: str,
    job_id: uuid.UUID | None,
    name: str,
    content: File | bytes,
    content_type: str,
    expires_at: datetime,
) -> StoredMedia:
    if isinstance(content, bytes):
        content = ContentFile(content)
    size = content.size
    stored_name = default_storage.save(name, content)
    try:
        return StoredMedia.objects.create(
            kind=kind,
            job_id=job_id,
            storage_name=stored_name,
            content_type=content_type,
            size_bytes=size,
            expires_at=expires_at,
        )
    except Exception:
        # No file may stay behind without a row pointing to it.
        default_storage.delete(stored_name)
        raise


def provider_media_publish(
    *, job_id: uuid.UUID, files: list[tuple[Path | str, str]], expires_at: datetime
) -> list[StoredMedia]:
    """Copies of a job's images under unguessable ids, for providers that download the images
    themselves; they answer until ``expires_at`` (the job's deadline). ``files`` are (a local
    path or a storage name, content type) pairs; the copies come back in the same order."""
    published = []
    for source, content_type in files:
        # Copied, not moved: the upload stays where the rest of the request expects it.
        opened = source.open("rb") if isinstance(source, Path) else default_storage.open(source)
        with opened as content:
            published.append(
                _provider_media_create(job_id, File(content), content_type, expires_at)
            )
    return published


def _provider_media_create(
    job_id: uuid.UUID, content: File, content_type: str, expires_at: datetime
) -> StoredMedia:
    extension = EXTENSIONS.get(_FORMATS_BY_CONTENT_TYPE.get(content_type, ""), "bin")
    return _media_create(
        kind=MediaKind.PROVIDER_MEDIA,
        job_id=job_id,
        name=f"provider-media/{uuid.uuid4()}.{extension}",
        content=content,
        content_type=content_type,
        expires_at=expires_at,
    )


def template_image_file_save(*, slot_id: str, upload: UploadedFile) -> tuple[str, PhotoInfo]:
    """Check a template image staff uploaded (a whole JPEG, PNG or WebP) and store it."""
    info = photo_inspect(Path(upload.temporary_file_path()))
    name = default_storage.save(
        f"templates/{slot_id}/{uuid.uuid4()}.{EXTENSIONS[info.format]}", File(upload.file)
    )
    return name, info


def storage_probe() -> None:
    """Write and delete a tiny file: raises when the storage cannot be written."""
    name = default_storage.save(f"health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


@dataclass
class MediaCleanup:
    """What one cleanup pass deleted (or, in a dry run, would delete), and what it could not."""

    results: int = 0
    thumbnails: int = 0
    provider_media: int = 0
    orphan_files: int = 0
    failures: int = 0


# Rows are read and deleted in batches so a first run after weeks never loads them all at once.
CLEANUP_BATCH = 500
_CLEANUP_FIELDS = {
    MediaKind.RESULT: "results",
    MediaKind.THUMBNAIL: "thumbnails",
    MediaKind.PROVIDER_MEDIA: "provider_media",
}


def media_cleanup(
    *,
    now: datetime,
    orphan_grace: timedelta,
    kept_elsewhere: KeptNames,
    dry_run: bool = False,
) -> MediaCleanup:
    """Delete expired results, thumbnails and provider media, then orphan files older than
    ``orphan_grace``. A dry run counts the same things and changes nothing."""
    cleanup = MediaCleanup()
    media_delete_expired(now=now, dry_run=dry_run, cleanup=cleanup)
    orphan_files_delete(
        older_than=now - orphan_grace,
        kept_elsewhere=kept_elsewhere,
        dry_run=dry_run,
        cleanup=cleanup,
    )
    return cleanup


def media_delete_expired(*, now: datetime, dry_run: bool, cleanup: MediaCleanup) -> None:
    """Delete stored media whose time is up: the file through the storage, then its row. A row
    whose file could not be deleted stays, so the next run tries again; a file that is already
    gone counts as deleted (storages treat deleting a missing name as done)."""
    expired = StoredMedia.objects.filter(expires_at__lte=now).order_by("pk")
    after: uuid.UUID | None = None
    while True:
        page = expired if after is None else expired.filter(pk__gt=after)
        batch = list(page.values_list("pk", "kind", "storage_name")[:CLEANUP_BATCH])
        if not batch:
            return
        after = batch[-1][0]
        deleted = []
        for pk, kind, storage_name in batch:
            if not dry_run and not _storage_delete(default_storage, storage_name):
                cleanup.failures += 1
                continue
            deleted.append(pk)
            field = _CLEANUP_FIELDS[kind]
            setattr(cleanup, field, getattr(cleanup, field) + 1)
        if not dry_run:
            StoredMedia.objects.filter(pk__in=deleted).delete()


def orphan_files_delete(
    *, older_than: datetime, kept_elsewhere: KeptNames, dry_run: bool, cleanup: MediaCleanup
) -> None:
    """Delete files that no StoredMedia row points to, nor another app (``kept_elsewhere``: the
    slots' template images), and that were last
    written before ``older_than``: what a crash left between writing a file and its row, a
    template image whose file delete failed, uploads a stopped server left in the upload folder.
    Younger files are left alone: a request may be between writing a file and adding its row."""
    for storage in _orphan_storages():
        for directory, files in _storage_directories(storage, ""):
            names = [posixpath.join(directory, file) for file in files]
            for name in _names_without_row(names, kept_elsewhere):
                try:
                    written = storage.get_modified_time(name)
                except FileNotFoundError:
                    continue  # removed since it was listed: nothing left to do
                except Exception as error:
                    logger.warning("cleanup: cannot read the age of %s: %s", name, error)
                    cleanup.failures += 1
                    continue
                if written >= older_than:
                    continue
                if dry_run or _storage_delete(storage, name):
                    cleanup.orphan_files += 1
                else:
                    cleanup.failures += 1


def _orphan_storages() -> list[Storage]:
    """The media storage, and the upload folder when the storage does not hold it (media on
    S3). Only an upload folder inside MEDIA_ROOT is ours to empty: never a shared /tmp."""
    storages: list[Storage] = [default_storage]
    if not django_settings.FILE_UPLOAD_TEMP_DIR:
        return storages
    upload_folder = Path(django_settings.FILE_UPLOAD_TEMP_DIR).resolve()
    ours = upload_folder.is_relative_to(Path(django_settings.MEDIA_ROOT).resolve())
    if ours and not _storage_holds(default_storage, upload_folder):
        storages.append(FileSystemStorage(location=upload_folder))
    return storages


def _storage_holds(storage: Storage, folder: Path) -> bool:
    return isinstance(storage, FileSystemStorage) and folder.is_relative_to(
        Path(storage.location).resolve()
    )


def _storage_directories(storage: Storage, directory: str) -> Iterator[tuple[str, list[str]]]:
    """Each directory of the storage with the names of its files, walked with ``listdir``."""
    try:
        subdirectories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    yield directory, files
    for subdirectory in subdirectories:
        yield from _storage_directories(storage, posixpath.join(directory, subdirectory))


def _names_without_row(names: list[str], kept_elsewhere: KeptNames) -> list[str]:
    # Rows are looked up after the listing: a file whose row appears meanwhile is kept.
    without_row = []
    for start in range(0, len(names), CLEANUP_BATCH):
        chunk = names[start : start + CLEANUP_BATCH]
        rows = StoredMedia.objects.filter(storage_name__in=chunk)
        with_row = set(rows.values_list("storage_name", flat=True)) | kept_elsewhere(chunk)
        without_row.extend(name for name in chunk if name not in with_row)
    return without_row


def _storage_delete(storage: Storage, name: str) -> bool:
    """Delete one file; False (and a log line) when the storage refused."""
    try:
        storage.delete(name)
    except Exception as error:
        logger.warning("cleanup: cannot delete %s: %s", name, error)
        return False
    return True
