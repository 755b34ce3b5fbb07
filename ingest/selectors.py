"""Reads of jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from ingest.models import Job, JobSource, JobStatus
from media.archives import ArchiveMember
from media.models import MediaKind, StoredMedia
from media.selectors import job_result, public_result
from photochanger.errors import JobNotFound
from slots.models import GlobalSettings, Slot


def job_get(*, job_id: str | uuid.UUID) -> Job:
    """The job; JobNotFound for an unknown or malformed id."""
    job = Job.objects.filter(pk=_job_uuid(job_id)).first()
    if job is None:
        raise JobNotFound()
    return job


def job_detail(*, job_id: str | uuid.UUID) -> Job:
    """A job as staff see it, with ``result`` (its result file, or None) and ``result_url``
    (the guest's public URL: absolute when ``public_base_url`` is set, else a path)."""
    job = job_get(job_id=job_id)
    job.result = job_result(job_id=job.pk)
    base = GlobalSettings.objects.filter(pk=1).values_list("public_base_url", flat=True).first()
    job.result_url = f"{(base or '').rstrip('/')}/public/results/{job.pk}"
    return job


@dataclass(frozen=True)
class GuestResult:
    job_id: uuid.UUID
    expires_at: datetime
    media: StoredMedia
    # The base of the page's absolute URL (the QR code); empty means "as the request came".
    public_base_url: str


def guest_result(*, job_id: str) -> GuestResult:
    """What the guest page at /r/{job_id} shows: the same result as the download, under the
    same rules (ResultNotFound, ResultExpired), and where the server is reached publicly."""
    media = public_result(job_id=job_id)
    base = GlobalSettings.objects.filter(pk=1).values_list("public_base_url", flat=True).first()
    return GuestResult(
        job_id=media.job_id, expires_at=media.expires_at, media=media, public_base_url=base or ""
    )


def _job_uuid(job_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound() from None


def latest_result_job_ids(*, slot_ids: Iterable[str]) -> dict[str, uuid.UUID]:
    """Per slot id, its latest job whose result guests can still fetch, in one query for a
    whole page of the slot list; a slot without one is missing from the answer."""
    latest = (
        Job.objects.filter(
            slot=OuterRef("pk"), status=JobStatus.DONE, result_expires_at__gt=timezone.now()
        )
        .order_by("-started_at")
        .values("pk")[:1]
    )
    rows = (
        Slot.objects.filter(pk__in=list(slot_ids))
        .annotate(job_id=Subquery(latest))
        .values_list("pk", "job_id")
    )
    return {slot_id: job_id for slot_id, job_id in rows if job_id is not None}


def slot_latest_results(*, slot_id: str, limit: int = 10) -> list[Job]:
    """A slot's latest jobs whose results guests can still fetch, newest first."""
    return list(
        Job.objects.filter(
            slot_id=slot_id, status=JobStatus.DONE, result_expires_at__gt=timezone.now()
        ).order_by("-started_at")[:limit]
    )


def jobs_with_id(queryset: QuerySet[Job], term: str) -> QuerySet[Job]:
    """The job whose id is ``term`` (a whole UUID, as in X-Job-Id), or none: ids are random,
    so a partial match would only ever find noise."""
    try:
        job_id = uuid.UUID(term.strip())
    except ValueError:
        return queryset.none()
    return queryset.filter(pk=job_id)


def results_archive_members(
    *, since: datetime | None = None, until: datetime | None = None, slot_id: str | None = None
) -> list[ArchiveMember]:
    """The guests' photos still kept, of booth jobs started in [since, until) and of one slot
    when given, oldest first, named ``slot-001/20261207-143005-1a2b3c4d.jpg`` (local time)."""
    results = StoredMedia.objects.filter(
        kind=MediaKind.RESULT, expires_at__gt=timezone.now(), job__source=JobSource.INGEST
    ).select_related("job")
    if since is not None:
        results = results.filter(job__started_at__gte=since)
    if until is not None:
        results = results.filter(job__started_at__lt=until)
    if slot_id:
        results = results.filter(job__slot_id=slot_id)
    members = []
    for media in results.order_by("job__started_at"):
        started = timezone.localtime(media.job.started_at)
        extension = PurePosixPath(media.storage_name).suffix
        name = f"{media.job.slot_id}/{started:%Y%m%d-%H%M%S}-{str(media.job_id)[:8]}{extension}"
        members.append(ArchiveMember(name=name, media=media, modified_at=started))
    return members
