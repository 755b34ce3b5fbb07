"""Reads of stored media."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from django.core.files.storage import default_storage
from django.utils import timezone

from media.models import MediaKind, StoredMedia
from photochanger.errors import MediaExpired, MediaNotFound, ResultExpired, ResultNotFound

CHUNK_BYTES = 1024 * 1024


def media_file_bytes(*, storage_name: str) -> bytes:
    """A small file's bytes (a thumbnail, a template image); stream a result with media_chunks."""
    with default_storage.open(storage_name, "rb") as file:
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


async def media_chunks(media: StoredMedia) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, so a 10 MB result is never held whole in memory."""
    with default_storage.open(media.storage_name, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


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
