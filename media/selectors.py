"""Reads of stored media."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from media.models import MediaKind, StoredMedia
from media.staging import staged_open, staged_path, storage_is_remote
from photochanger.errors import MediaExpired, MediaNotFound, ResultExpired, ResultNotFound
from photochanger.executors import run_storage_work

CHUNK_BYTES = 1024 * 1024


def media_file_read(storage_name: str) -> File:
    """A stored file opened for reading: this server's staged copy while it is on its way to
    the bucket (media.staging), else the storage's."""
    return staged_open(storage_name) or default_storage.open(storage_name, "rb")


def media_file_bytes(*, storage_name: str) -> bytes:
    """A small file's bytes (a thumbnail, a template image); stream a result with opened_chunks."""
    with media_file_read(storage_name) as file:
        return file.read()


def job_result(*, job_id: uuid.UUID) -> StoredMedia | None:
    return StoredMedia.objects.filter(job_id=job_id, kind=MediaKind.RESULT).first()


def public_result(*, job_id: str) -> StoredMedia:
    """A job's result while its time lasts; expired means gone even before cron runs.

    A result row exists only for a job that ended done: it is written in the same transaction
    that closes the job (ingest.jobs.job_succeed).
    """
    try:
        job_id = uuid.UUID(job_id)
    except ValueError:
        raise ResultNotFound() from None
    media = job_result(job_id=job_id)
    if media is None:
        raise ResultNotFound()
    if media.expires_at <= timezone.now():
        raise ResultExpired()
    return media


class StoredFileMissing(Exception):
    """A row points to a file the storage does not have: a file deleted by hand, a restore
    without its media, a file on another server's own disk."""


@dataclass
class OpenedMedia:
    """A stored file opened for reading, with its first chunk already read: a file that is
    missing or cannot be read is known before an answer starts."""

    file: File
    first_chunk: bytes


def media_file_open(media: StoredMedia) -> OpenedMedia:
    """Open ``media``'s file; StoredFileMissing when the storage does not have it. Blocking
    (with media in a bucket, the first read fetches the file): run it off the event loop."""
    try:
        file = media_file_read(media.storage_name)
    except FileNotFoundError:
        raise StoredFileMissing(media.storage_name) from None
    try:
        return OpenedMedia(file=file, first_chunk=file.read(CHUNK_BYTES))
    except BaseException:
        file.close()
        raise


def media_kept_open(media: StoredMedia, *, kept: File | bytes) -> OpenedMedia:
    """The file just stored as ``media``, opened to answer with. From ``kept`` (the bytes or
    the upload handed to the storage) when media are in a bucket: the answer never waits for
    the bucket (media.staging). From the storage when it is this server's own disk, where the
    upload was moved rather than copied."""
    if not storage_is_remote():
        return media_file_open(media)
    file = File(io.BytesIO(kept)) if isinstance(kept, bytes) else kept
    file.seek(0)
    return OpenedMedia(file=file, first_chunk=file.read(CHUNK_BYTES))


async def opened_chunks(opened: OpenedMedia) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, so a 10 MB result is never held whole in memory."""
    try:
        chunk = opened.first_chunk
        while chunk:
            yield chunk
            chunk = await run_storage_work(opened.file.read, CHUNK_BYTES)
    finally:
        opened.file.close()


def media_file_exists(media: StoredMedia) -> bool:
    return staged_path(media.storage_name).exists() or default_storage.exists(media.storage_name)


def media_download_url(media: StoredMedia, *, filename: str) -> str:
    """A short-lived presigned URL of ``media`` in the bucket (MEDIA_DOWNLOADS=redirect),
    naming the download ``filename``; empty while the file is still on its way there (stream
    it); StoredFileMissing when the bucket does not have it."""
    if staged_path(media.storage_name).exists():
        return ""
    if not default_storage.exists(media.storage_name):
        raise StoredFileMissing(media.storage_name)
    return default_storage.url(
        media.storage_name,
        parameters={"ResponseContentDisposition": f'attachment; filename="{filename}"'},
        expire=settings.MEDIA_REDIRECT_SECONDS,
    )


def media_download_origin() -> str:
    """Where presigned URLs lead (scheme and host), for the guest page's image policy."""
    address = urlsplit(default_storage.url("origin-probe", expire=60))
    return f"{address.scheme}://{address.netloc}"


def provider_media_public(*, media_id: str) -> StoredMedia:
    """A provider-media file while its job's deadline lasts."""
    try:
        media_id = uuid.UUID(media_id)
    except ValueError:
        raise MediaNotFound() from None
    media = StoredMedia.objects.filter(pk=media_id, kind=MediaKind.PROVIDER_MEDIA).first()
    if media is None:
        raise MediaNotFound()
    if media.expires_at <= timezone.now():
        raise MediaExpired()
    return media


def provider_media_url(*, media: StoredMedia, public_base_url: str) -> str:
    return f"{public_base_url.rstrip('/')}/public/provider-media/{media.pk}"
