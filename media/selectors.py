"""Reads of stored media."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from django.core.files.storage import default_storage
from django.utils import timezone

from ingest.models import Job, JobStatus
from media.models import MediaKind, StoredMedia
from photochanger.errors import MediaExpired, MediaNotFound, ResultExpired, ResultNotFound
from slots.models import GlobalSettings, TemplateImage

CHUNK_BYTES = 1024 * 1024


def template_image_bytes(image: TemplateImage) -> bytes:
    with default_storage.open(image.storage_name, "rb") as file:
        return file.read()


def media_bytes(media: StoredMedia) -> bytes:
    """A small file's bytes (a thumbnail); stream anything larger with media_chunks."""
    with default_storage.open(media.storage_name, "rb") as file:
        return file.read()


def job_result(*, job_id: uuid.UUID) -> StoredMedia | None:
    return StoredMedia.objects.filter(job_id=job_id, kind=MediaKind.RESULT).first()


def public_result(*, job_id: str) -> StoredMedia:
    """A done job's result while its time lasts; expired means gone even before cron runs."""
    try:
        job_id = uuid.UUID(job_id)
    except ValueError:
        raise ResultNotFound() from None
    job = Job.objects.filter(pk=job_id, status=JobStatus.DONE).only("result_expires_at").first()
    if job is None:
        raise ResultNotFound()
    if job.result_expires_at is None or job.result_expires_at <= timezone.now():
        raise ResultExpired()
    media = job_result(job_id=job_id)
    if media is None:
        raise ResultNotFound()
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


@dataclass(frozen=True)
class GuestResult:
    job_id: uuid.UUID
    expires_at: datetime
    # The base of the page's absolute URL (the QR code); empty means "as the request came".
    public_base_url: str


def guest_result(*, job_id: str) -> GuestResult:
    """What the guest page at /r/{job_id} shows: the same result as the download, under the
    same rules (ResultNotFound, ResultExpired), and where the server is reached publicly."""
    media = public_result(job_id=job_id)
    base = GlobalSettings.objects.filter(pk=1).values_list("public_base_url", flat=True).first()
    return GuestResult(job_id=media.job_id, expires_at=media.expires_at, public_base_url=base or "")
