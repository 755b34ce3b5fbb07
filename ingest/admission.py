"""Admission: the checks a photo passes before its provider is called.

They run in the documented order (password, slot, then, with the job recorded, capacity, request,
size, type). A refusal before the job exists leaves no row; after it, the refusal closes the job.
All of this is synchronous and runs on a database thread (photochanger.executors).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings as django_settings
from django.http import HttpRequest
from django.utils import translation

from ingest.capacity import RETRY_AFTER_SECONDS, capacity
from ingest.models import JobSource
from ingest.services import job_fail, job_start
from ingest.upload import BoothUpload, booth_upload_read, upload_digests
from media.images import PhotoInfo, photo_inspect
from photochanger.errors import (
    InternalError,
    InvalidPassword,
    InvalidRequest,
    PayloadTooLarge,
    PhotoChangerError,
    RateLimited,
    SlotDisabled,
    SlotNotFound,
)
from photochanger.throttle import FailureLimit, client_address
from providers.base import Deadline
from slots.models import GlobalSettings, Slot
from slots.selectors import slot_get
from slots.services import SlotOverrides, ingest_password_check, settings_get, slot_with_overrides

logger = logging.getLogger(__name__)

WRONG_PASSWORDS = FailureLimit(
    name="ingest-password",
    limit=django_settings.INGEST_PASSWORD_FAILURES,
    window_seconds=300,
    block_seconds=django_settings.INGEST_PASSWORD_BLOCK_MINUTES * 60,
    message="too many wrong passwords from this address; try again later",
)


@dataclass(frozen=True)
class FormRead:
    upload: BoothUpload | None
    error: PhotoChangerError | None


@dataclass(frozen=True)
class Admission:
    job_id: uuid.UUID
    slot: Slot
    settings: GlobalSettings
    upload: BoothUpload
    photo: PhotoInfo
    started: float  # time.monotonic() when the request reached the application
    deadline: Deadline
    deadline_at: datetime  # the same deadline on the wall clock, as stored on the job
    upload_sha256: str = ""


def _form_read(request: HttpRequest) -> FormRead:
    try:
        return FormRead(upload=booth_upload_read(request), error=None)
    except PhotoChangerError as error:
        return FormRead(upload=None, error=error)


def ingest_admit(*, request: HttpRequest, slot_id: str, started: float) -> Admission:
    """Run the checks up to the provider call; record the job once password and slot pass."""
    # The body is already whole on disk (the server spools it), so reading the form first
    # costs nothing extra; its errors are raised only where the documented order puts them.
    form = _form_read(request)
    client = client_address(request)
    WRONG_PASSWORDS.check(client)
    password = request.GET.get("password")
    if password is None:
        if form.error is not None:
            raise form.error  # without a readable form there is no password to check
        password = form.upload.password
    if not password:
        raise InvalidRequest("the password is missing")
    settings = settings_get()
    if not ingest_password_check(stored_hash=settings.ingest_password_hash, candidate=password):
        WRONG_PASSWORDS.record_failure(client)
        raise InvalidPassword("wrong password")
    slot = slot_get(slot_id=slot_id)
    if slot is None:
        raise SlotNotFound(f"there is no slot {slot_id!r}")
    if not slot.is_active:
        raise SlotDisabled(f"{slot.id} is switched off")
    return _admit(slot=slot, settings=settings, form=form, source=JobSource.INGEST, started=started)


def test_run_admit(
    *, request: HttpRequest, slot_id: str, overrides: SlotOverrides, started: float
) -> Admission:
    slot = slot_get(slot_id=slot_id)
    if slot is None:
        raise SlotNotFound(f"there is no slot {slot_id!r}")
    # What is wrong with the overrides is worded for the staff member, in the language
    # LocaleMiddleware chose; its activation does not follow the work onto this thread.
    with translation.override(getattr(request, "LANGUAGE_CODE", None)):
        slot = slot_with_overrides(slot=slot, overrides=overrides)
    form = _form_read(request)
    if form.upload is not None:
        form.upload.metadata.pop("overrides", None)  # the test run's own field, not metadata
    return _admit(
        slot=slot,
        settings=settings_get(),
        form=form,
        source=JobSource.TEST_RUN,
        started=started,
    )


def _admit(
    *, slot: Slot, settings: GlobalSettings, form: FormRead, source: str, started: float
) -> Admission:
    """Record the job, then the remaining checks in order: capacity, request, size, type."""
    upload = form.upload
    job = job_start(
        slot=slot,
        settings=settings,
        source=source,
        upload_filename=(
            (upload.photo.name or "").replace("\x00", "") if upload and upload.photo else ""
        ),
        upload_size=upload.photo.size if upload and upload.photo else None,
        upload_hash=upload.hash if upload else "",
        metadata=upload.metadata if upload else {},
    )
    try:
        if form.error is not None:
            raise form.error
        if not capacity.acquire(
            job_id=job.id,
            slot_id=slot.id,
            limit=settings.max_concurrent_jobs,
            slot_limit=slot.max_concurrent_jobs,
        ):
            raise RateLimited(
                "too many photos are being processed; try again shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        try:
            photo, sha256 = _photo_check(upload=upload, slot=slot, settings=settings)
        except BaseException:
            capacity.release(job_id=job.id)
            raise
    except PhotoChangerError as error:
        error.job_id = job.id
        job_fail(
            job_id=job.id,
            error=error,
            http_status=error.http_status,
            duration_ms=elapsed_ms(started),
        )
        raise
    except Exception as cause:
        raise internal_error(job_id=job.id, started=started, cause=cause) from None
    return Admission(
        job_id=job.id,
        slot=slot,
        settings=settings,
        upload=upload,
        photo=photo,
        started=started,
        deadline=Deadline(started + settings.sync_response_seconds),
        deadline_at=job.deadline_at,
        upload_sha256=sha256,
    )


def internal_error(*, job_id: uuid.UUID, started: float, cause: Exception) -> InternalError:
    """A bug: log it with the job id, close the job as internal_error, answer 500."""
    logger.error("internal error on job %s", job_id, exc_info=cause)
    error = InternalError(f"an unexpected error on job {job_id}; it has been logged")
    error.job_id = job_id
    job_fail(job_id=job_id, error=error, http_status=500, duration_ms=elapsed_ms(started))
    return error


def _photo_check(
    *, upload: BoothUpload, slot: Slot, settings: GlobalSettings
) -> tuple[PhotoInfo, str]:
    if upload.problem is not None:
        raise upload.problem
    photo = upload.photo
    if photo is None:
        raise InvalidRequest("the photo is missing (send it as fileToUpload)")
    if photo.size == 0:
        raise InvalidRequest("the photo is empty")
    if photo.size > slot.size_limit_bytes:
        raise PayloadTooLarge(
            f"the photo is {photo.size / 1048576:.1f} MB; "
            f"this slot takes up to {slot.size_limit_mb} MB"
        )
    info = photo_inspect(Path(photo.temporary_file_path()))
    sha256 = ""
    if settings.strict_upload_hash and upload.hash:
        digests = upload_digests(photo.file, booth_hash=upload.hash)
        if not digests.booth_hash_matches:
            raise InvalidRequest("the hash does not match the photo")
        sha256 = digests.sha256
    return info, sha256


def elapsed_ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)
