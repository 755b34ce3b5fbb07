"""The ingest service: one photo from the booth (or a staff test run) to its answer, in time.

Checks, in the documented order (SPEC §3): password (401), slot (404); then, with the job
recorded, capacity (429), the form (400), size (413), type (415); then the provider under the
deadline ``T_sync_response`` (502, 504). A refusal before the job exists leaves no row; after it,
the refusal closes the job. The deadline is computed once, when the request arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac

from ingest.capacity import RETRY_AFTER_SECONDS, capacity
from ingest.costs import paid_call_count, paid_cap_reached
from ingest.events import job_report
from ingest.failover import ChainStep, StepNotAllowed, chain_answer, chain_steps
from ingest.jobs import job_close_as_repeat, job_fail, job_start, job_succeed
from ingest.models import Job, JobSource
from ingest.previews import preview_source_keep
from ingest.repeats import first_outcome, photo_digest_publish, repeat_candidate
from ingest.uploads import BoothForm, UploadDigests, upload_digests, upload_path
from ingest.workers import current_worker
from media.images import CONTENT_TYPES, PhotoInfo, photo_inspect
from media.models import StoredMedia
from media.prints import GuestQr, PrintLayout, print_ready
from media.selectors import (
    OpenedMedia,
    StoredFileMissing,
    media_file_bytes,
    media_file_open,
    media_kept_open,
    opened_chunks,
    provider_media_url,
)
from media.services import provider_media_publish
from photochanger.errors import (
    ClientDisconnected,
    InternalError,
    InvalidPassword,
    InvalidRequest,
    PayloadTooLarge,
    PhotoChangerError,
    ProviderFailed,
    ProviderTimeout,
    RateLimited,
    SlotDisabled,
    SlotNotFound,
)
from photochanger.executors import (
    run_database_work,
    run_image_work,
    run_storage_work,
    run_unhurried_work,
)
from photochanger.throttle import FailureLimit
from providers.base import (
    Deadline,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.registry import provider_for
from slots.keys import StoredKeyRing, provider_api_keys
from slots.models import GlobalSettings, OnFailure, Slot
from slots.output import output_for_original, output_layout
from slots.prompts import prompt_filled
from slots.selectors import slot_get
from slots.services import SlotOverrides, ingest_password_check, settings_get, slot_with_overrides

logger = logging.getLogger(__name__)

# With on_failure = original, these failures answer the guest's own photo instead.
_FALLBACK_ERRORS = (ProviderFailed, ProviderTimeout, InternalError)


@dataclass(frozen=True)
class PhotoAnswer:
    """What the booth gets back: the image, as bytes or as chunks of a stored file."""

    job_id: uuid.UUID
    content_type: str
    size: int
    data: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    result_path: str = ""  # the guest's download; empty for the original sent back
    public_base_url: str = ""
    repeat: bool = False  # a re-send answered with the first job's result (ingest.repeats)


@dataclass(frozen=True)
class Admission:
    """A request that passed password and slot, with its job recorded and its capacity held."""

    job_id: uuid.UUID
    slot: Slot
    settings: GlobalSettings
    started: float  # time.monotonic() when the request arrived
    deadline: Deadline
    deadline_at: datetime  # the same deadline on the wall clock, as the job row and media keep it
    started_at: datetime  # the job's start, as its row keeps it
    admitted: bool  # whether it holds a place under the capacity limits
    call_settings: dict  # the slot's settings with its prompt filled from the booth's answers
    capacity_error: Exception | None = None  # why the limits could not be asked
    test_run: bool = False  # a staff test run, not a booth's photo
    steps: list[ChainStep] = field(default_factory=list)  # the failover chain, from the slot


def wrong_passwords() -> FailureLimit:
    """The limit on wrong ingest passwords per address (its numbers: photochanger.throttle),
    from the settings at each request, so a changed setting applies at once."""
    return FailureLimit(
        name="ingest-password",
        limit=django_settings.INGEST_PASSWORD_FAILURES,
        window_seconds=300,
        block_seconds=django_settings.INGEST_PASSWORD_BLOCK_SECONDS,
        budget=django_settings.INGEST_PASSWORD_HOURLY_FAILURES,
        budget_seconds=3600,
        listed=True,
        message="too many wrong passwords from this address; try again later",
    )


def refused_address_release(*, address: str) -> bool:
    """Forget an address's wrong passwords and lift its block, for staff who know it is a
    booth; False when nothing was known of it."""
    return wrong_passwords().release(address)


async def booth_gate(*, client: str, url_password: str | None, slot_id: str = "") -> None:
    """The refusals made before the booth's form is read: an address that kept sending wrong
    passwords (429), a wrong password in the URL (401)."""
    await run_database_work(_gate, client=client, url_password=url_password, slot_id=slot_id)


def _gate(*, client: str, url_password: str | None, slot_id: str) -> None:
    wrong_passwords().check(client)
    if url_password:
        _password_check(url_password, settings=settings_get(), client=client, slot_id=slot_id)


async def ingest_photo(
    *,
    slot_id: str,
    form: BoothForm,
    source: str = JobSource.INGEST,
    password: str | None = None,
    client: str = "",
    overrides: SlotOverrides | None = None,
) -> PhotoAnswer:
    """Answer a photo: the processed image, or a PhotoChangerError carrying the job id.

    A booth's photo (source ``ingest``) needs an active slot and the ingest password:
    ``password`` (the URL's) when given, else the form's. A staff test run (source
    ``test_run``) needs neither, and may try unsaved ``overrides`` of the slot for this photo.
    """
    admission = await run_database_work(
        _admit,
        slot_id=slot_id,
        form=form,
        source=source,
        password=form.password if password is None else password,
        client=client,
        overrides=overrides or SlotOverrides(),
        # The staff member's language (LocaleMiddleware's), for what is wrong with overrides:
        # an activation does not follow the work onto the database thread.
        language=translation.get_language(),
        started=time.monotonic(),
        started_at=timezone.now(),
    )
    try:
        return await _answer(admission, form)
    finally:
        await job_report(await run_database_work(_job_end, admission.job_id))


def _admit(
    *,
    slot_id: str,
    form: BoothForm,
    source: str,
    password: str | None,
    client: str,
    overrides: SlotOverrides,
    language: str | None,
    started: float,
    started_at: datetime,
) -> Admission:
    """The checks before the job (password, slot), then the job, then a place under the
    capacity limits, in one trip to the database."""
    settings = settings_get()
    if source == JobSource.TEST_RUN:
        with translation.override(language):
            slot = slot_with_overrides(slot=_slot_require(slot_id), overrides=overrides)
    else:
        if not password:
            raise InvalidRequest("the password is missing")
        _password_check(password, settings=settings, client=client, slot_id=slot_id)
        slot = _slot_require(slot_id)
        if not slot.is_active:
            raise SlotDisabled(f"{slot.id} is switched off")
    seconds = settings.sync_response_seconds
    photo = form.photos[0] if form.photos else None
    # The booth's survey answers (form fields) fill the prompt's placeholders: slots.prompts.
    call_settings, prompt_sent = prompt_filled(slot.settings, answers=form.metadata)
    job = job_start(
        slot=slot,
        prompt_sent=prompt_sent,
        source=source,
        started_at=started_at,
        deadline_at=started_at + timedelta(seconds=seconds),
        upload_filename=(photo.name or "") if photo else "",
        upload_size=photo.size if photo else None,
        upload_hash=form.hash,
        metadata=form.metadata,
        worker=current_worker(),
    )
    # Over capacity the request is refused at once, never queued: a guest kept waiting would
    # see the booth's own timeout instead of a clear answer.
    try:
        admitted, capacity_error = (
            capacity.acquire(
                job_id=job.id,
                slot_id=slot.id,
                limit=settings.max_concurrent_jobs,
                slot_limit=slot.max_concurrent_jobs,
            ),
            None,
        )
    except Exception as error:  # Redis unreachable: the job exists, so it must end as a 500
        admitted, capacity_error = False, error
    return Admission(
        job_id=job.id,
        slot=slot,
        settings=settings,
        started=started,
        deadline=Deadline(started + seconds),
        deadline_at=job.deadline_at,
        started_at=job.started_at,
        admitted=admitted,
        call_settings=call_settings,
        capacity_error=capacity_error,
        test_run=source == JobSource.TEST_RUN,
        steps=chain_steps(slot=slot, call_settings=call_settings, answers=form.metadata),
    )


def _slot_require(slot_id: str) -> Slot:
    slot = slot_get(slot_id=slot_id)
    if slot is None:
        raise SlotNotFound(f"there is no slot {slot_id!r}")
    return slot


def _password_check(password: str, *, settings: GlobalSettings, client: str, slot_id: str) -> None:
    limit = wrong_passwords()
    if ingest_password_check(stored_hash=settings.ingest_password_hash, candidate=password):
        limit.record_success(client)
        return
    if _is_previous_password(password, settings=settings):
        # A booth nobody updated, not a guesser: it uses none of the address's hourly budget.
        limit.record_failure(client, tried=slot_id, reason="old_password", toward_budget=False)
        raise InvalidPassword(_password_changed(settings))
    limit.record_failure(client, tried=slot_id, reason="wrong_password")
    raise InvalidPassword("wrong password")


def _is_previous_password(password: str, *, settings: GlobalSettings) -> bool:
    previous = settings.ingest_password_previous_hash
    if not previous:
        return False
    # A booth that still has the old password sends it with every photo: the slow hash is
    # worked out once per password tried (not through ingest_password_check, which would
    # forget the current password's verified digest). The key is an HMAC under SECRET_KEY,
    # never the password.
    signature = salted_hmac("ingest-password-previous", f"{previous}\0{password}")
    key = f"ingest-password:previous:{signature.hexdigest()}"
    verdict = cache.get(key)
    if verdict is None:
        verdict = check_password(password, previous)
        cache.set(key, verdict, timeout=3600)
    return verdict


def _password_changed(settings: GlobalSettings) -> str:
    if settings.ingest_password_set_at is None:
        return "the ingest password was changed; update the booth"
    changed_at = timezone.localtime(settings.ingest_password_set_at).strftime("%H:%M %Z")
    return f"the ingest password was changed at {changed_at}; update the booth"


def _job_end(job_id: uuid.UUID) -> Job:
    """Give back the job's place under the capacity limits; the ended job, for its report."""
    capacity.release(job_id=job_id)
    return Job.objects.get(pk=job_id)


async def _answer(admission: Admission, form: BoothForm) -> PhotoAnswer:
    recorded: dict[str, object] = {}  # what the job learns on the way: type, digests, timings
    digests: asyncio.Future[UploadDigests] | None = None
    publishing: asyncio.Future[None] | None = None
    try:
        if admission.capacity_error is not None:
            raise admission.capacity_error
        if not admission.admitted:
            raise RateLimited(
                "too many photos are being processed; try again shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        photo_file = _the_photo(form, admission.slot)
        path = upload_path(photo_file)
        # The digests the job keeps (~16 ms for 10 MB) are no part of the answer, except in
        # strict mode or for a photo that may be a re-send (rare: ingest.repeats): worked out
        # beside the checks and the provider, on a thread of their own, they add nothing to the
        # booth's wait nor to other guests'. The SHA-256 goes on the job row as soon as it is
        # known, for a re-send to compare with.
        digests = asyncio.ensure_future(
            run_unhurried_work(upload_digests, path, booth_hash=form.hash)
        )
        if _repeat_window(admission):
            publishing = asyncio.ensure_future(_digest_publish(admission.job_id, digests))
        photo = await run_image_work(photo_inspect, path)
        recorded["upload_content_type"] = photo.content_type
        if admission.settings.strict_upload_hash:
            recorded |= _digest_fields(await digests)
            if recorded["upload_hash_matches"] is False:
                raise InvalidRequest("the hash does not match the photo")
        if repeat := await _repeat_answer(admission, photo_file.size, digests, recorded):
            return repeat
        provider_started = time.monotonic()
        try:
            result = await _provider_call(admission, photo, path, recorded)
        finally:
            recorded["provider_ms"] = _elapsed_ms(provider_started)
        if admission.test_run:
            await run_image_work(_preview_source_keep, admission.slot.id, result, path)
        layout, qr = output_layout(admission.call_settings), _guest_qr(admission)
        if layout is not None or qr is not None:
            result = await run_image_work(_for_print, result, path, layout, qr)
        recorded |= _digest_fields(await digests)
        return await run_database_work(
            _result_keep, admission=admission, photo=photo_file, result=result, recorded=recorded
        )
    except PhotoChangerError as error:
        return await _answer_failure(admission, form, error, recorded | _if_done(digests))
    except asyncio.CancelledError:
        # The booth hung up (its own timeout): nobody will see an answer.
        await run_database_work(
            job_fail,
            job_id=admission.job_id,
            error=ClientDisconnected("the booth hung up before the answer"),
            http_status=None,
            duration_ms=_elapsed_ms(admission.started),
            **recorded | _if_done(digests),
        )
        raise
    except Exception as cause:
        logger.error("internal error on job %s", admission.job_id, exc_info=cause)
        error = InternalError(f"an unexpected error on job {admission.job_id}; it has been logged")
        return await _answer_failure(admission, form, error, recorded | _if_done(digests))
    finally:
        if publishing is not None and not publishing.done():
            publishing.cancel()  # the job's close writes the digest, when there is one


async def _repeat_answer(
    admission: Admission,
    size: int,
    digests: asyncio.Future[UploadDigests],
    recorded: dict[str, object],
) -> PhotoAnswer | None:
    """For a booth's re-send of a photo, the first job's result (waited for while it runs);
    None when no earlier job has a photo of this size (the common case: nothing is waited
    for), the photos differ, the window is off, or the first left no result."""
    window = _repeat_window(admission)
    if not window:
        return None
    first = await run_database_work(
        repeat_candidate,
        job_id=admission.job_id,
        slot_id=admission.slot.pk,
        size=size,
        started_at=admission.started_at,
        window_seconds=window,
    )
    if first is None:
        return None
    recorded |= _digest_fields(await digests)
    try:
        outcome = await first_outcome(
            first, sha256=recorded["upload_sha256"], deadline=admission.deadline
        )
    except TimeoutError:
        raise ProviderTimeout(
            f"no answer within {admission.settings.sync_response_seconds} s: the same photo "
            f"is still being processed as job {first.pk}"
        ) from None
    if not outcome.same_photo or outcome.result is None:
        return None
    try:
        opened = await run_storage_work(media_file_open, outcome.result)
    except StoredFileMissing:
        # The first job's result is on another server's own disk (no shared bucket): the
        # guest still gets a photo, from a call of its own.
        logger.warning(
            "job %s: a re-send of job %s, whose result this server cannot read: processed anew",
            admission.job_id,
            first.pk,
        )
        return None
    closed = await run_database_work(
        job_close_as_repeat,
        job_id=admission.job_id,
        first_id=first.pk,
        duration_ms=_elapsed_ms(admission.started),
        **recorded,
    )
    if not closed:
        opened.file.close()
        raise InternalError(f"job {admission.job_id} was closed while it waited")
    return _stored_answer(first.pk, outcome.result, opened, admission, repeat=True)


async def _digest_publish(job_id: uuid.UUID, digests: asyncio.Future[UploadDigests]) -> None:
    """The job's SHA-256 on its row as soon as it is known (ingest.repeats). A digest or write
    that fails only means a re-send of this photo compares once the job has ended; the job's
    own path reports the digest's failure."""
    with contextlib.suppress(Exception):
        digest = await asyncio.shield(digests)  # cancelling this must not cancel the digests
        await run_database_work(photo_digest_publish, job_id=job_id, sha256=digest.sha256)


def _repeat_window(admission: Admission) -> int:
    return 0 if admission.test_run else admission.settings.repeat_window_seconds


def _digest_fields(digests: UploadDigests) -> dict[str, object]:
    return {"upload_sha256": digests.sha256, "upload_hash_matches": digests.booth_hash_matches}


def _if_done(digests: asyncio.Future[UploadDigests] | None) -> dict[str, object]:
    """The digests for a job that ended early, if they were ready; else nothing is waited for."""
    if digests is None:
        return {}
    if not digests.done():
        digests.cancel()  # its thread finishes unheard
        return {}
    if digests.cancelled() or digests.exception():
        return {}
    return _digest_fields(digests.result())


def _the_photo(form: BoothForm, slot: Slot) -> UploadedFile:
    if len(form.photos) > 1:
        raise InvalidRequest("send exactly one photo (fileToUpload)")
    if not form.photos:
        raise InvalidRequest("the photo is missing (send it as fileToUpload)")
    photo = form.photos[0]
    if photo.size == 0:
        raise InvalidRequest("the photo is empty")
    if photo.size > slot.size_limit_bytes:
        raise PayloadTooLarge(
            f"the photo is {photo.size / 1048576:.1f} MB; "
            f"this slot takes up to {slot.size_limit_mb} MB"
        )
    return photo


async def _provider_call(
    admission: Admission, photo: PhotoInfo, path: Path, recorded: dict[str, object]
) -> ProviderResult:
    """The image of the first provider of the slot's failover chain that gives one in time;
    the chain's attempts, and the step that served, go into ``recorded`` for the job."""
    attempts: list[dict] = []
    recorded["attempts"] = attempts

    async def call(step: ChainStep, deadline: Deadline) -> ProviderResult:
        provider = provider_for(step.slot.provider)
        if provider is None:
            raise ProviderFailed(f"the provider {step.slot.provider!r} is not available")
        capped = (
            admission.slot.daily_paid_calls_cap is not None
            or admission.settings.daily_paid_calls_cap is not None
        )
        if (
            provider.needs_api_key
            and capped
            and (
                cap := await run_database_work(
                    paid_cap_reached, slot=admission.slot, settings=admission.settings
                )
            )
        ):
            raise StepNotAllowed(cap)
        request = await run_database_work(_provider_request, admission, step, deadline, photo, path)
        return await provider.process(request)

    answer = await chain_answer(
        admission.steps,
        deadline=admission.deadline,
        deadline_seconds=admission.settings.sync_response_seconds,
        call=call,
        past_refusals=admission.slot.failover_on_refusal,
        attempts=attempts,
    )
    recorded["served_step"] = answer.step
    return answer.result


def _provider_request(
    admission: Admission, step: ChainStep, deadline: Deadline, photo: PhotoInfo, path: Path
) -> ProviderRequest:
    """What the driver gets: the photo, and the template images it uses, as bytes or, for a
    provider that downloads them itself, as provider-media URLs valid until the deadline."""
    slot = step.slot
    provider = provider_for(slot.provider)
    templates = (
        list(slot.template_images.all()) if provider.uses_template_images(slot.operation) else []
    )
    photo_url = ""
    if provider.needs_public_urls:
        base_url = admission.settings.public_base_url
        if not base_url:
            raise ProviderFailed(
                f"{slot.provider} downloads the photo from this server: "
                "set the public base URL in the settings"
            )
        published = provider_media_publish(
            job_id=admission.job_id,
            files=[(path, photo.content_type)]
            + [(template.storage_name, template.content_type) for template in templates],
            expires_at=admission.deadline_at,
        )
        photo_url, *urls = [
            provider_media_url(media=media, public_base_url=base_url) for media in published
        ]
        template_images = [
            TemplateImageInput(
                role=template.role, content_type=template.content_type, data=b"", url=url
            )
            for template, url in zip(templates, urls, strict=True)
        ]
    else:
        template_images = [
            TemplateImageInput(
                role=template.role,
                content_type=template.content_type,
                data=media_file_bytes(storage_name=template.storage_name),
            )
            for template in templates
        ]
    return ProviderRequest(
        job_id=str(admission.job_id),
        photo_path=path,
        photo_format=photo.format,
        photo_orientation=photo.orientation,
        operation=slot.operation,
        settings=step.settings,
        template_images=template_images,
        keys=StoredKeyRing(
            slot.provider, provider_api_keys(settings=admission.settings, provider=slot.provider)
        )
        if provider.needs_api_key
        else None,
        deadline=deadline,
        photo_url=photo_url,
    )


def _guest_qr(admission: Admission) -> GuestQr | None:
    """The code of the guest's page, when the slot stamps it on the print."""
    base_url = admission.settings.public_base_url
    if not (admission.slot.guest_qr_corner and base_url):
        return None
    return GuestQr(
        url=f"{base_url.rstrip('/')}/r/{admission.job_id}",
        corner=admission.slot.guest_qr_corner,
        caption=admission.slot.guest_qr_caption,
    )


def _preview_source_keep(slot_id: str, result: ProviderResult, path: Path) -> None:
    """The test run's answer, before layout, for the slot page's print preview."""
    answer = path.read_bytes() if result.photo_unchanged else result.data
    preview_source_keep(slot_id=slot_id, answer=answer)


def _for_print(
    result: ProviderResult, path: Path, layout: PrintLayout | None, qr: GuestQr | None
) -> ProviderResult:
    """The result laid out for the booth's printer and stamped with the guest's code."""
    data = path.read_bytes() if result.photo_unchanged else result.data
    printed, image_format = print_ready(data, layout, qr=qr)
    return ProviderResult(format=image_format, data=printed)


def _result_keep(
    *,
    admission: Admission,
    photo: UploadedFile,
    result: ProviderResult,
    recorded: dict[str, object],
) -> PhotoAnswer:
    """Store the result and close the job as done, count its paid call, then say what to
    answer."""
    served = [attempt for attempt in recorded.get("attempts", ()) if attempt["outcome"] == "ok"]
    if served and (driver := provider_for(served[0]["provider"])) and driver.needs_api_key:
        # Counted here, in the trip that stores the result, not in one more of its own.
        paid_call_count(slot_id=admission.slot.pk, provider=served[0]["provider"])
    # A photo the provider left unchanged is kept as the upload itself: on a local disk
    # storing it is a rename, not a copy.
    kept = photo if result.photo_unchanged else result.data
    media = job_succeed(
        job_id=admission.job_id,
        result=kept,
        image_format=result.format,
        ttl_hours=admission.settings.result_ttl_hours,
        duration_ms=_elapsed_ms(admission.started),
        **recorded,
    )
    if media is None:
        raise InternalError(f"job {admission.job_id} was closed while it ran")
    # Opened here, in this worker thread: a file that cannot be read is an error answer, not
    # a stream that breaks off.
    opened = media_kept_open(media, kept=kept)
    return _stored_answer(admission.job_id, media, opened, admission)


def _stored_answer(
    job_id: uuid.UUID,
    media: StoredMedia,
    opened: OpenedMedia,
    admission: Admission,
    *,
    repeat: bool = False,
) -> PhotoAnswer:
    """Job ``job_id``'s stored result as the booth's answer."""
    # Streamed from a file closed when the answer ends, never handed to the response as
    # bytes: Django's ASGI handler keeps each finished response in a reference cycle until a
    # full garbage collection (Django ticket #36700); with the bytes in it, 60 answers of
    # 10 MB stayed in memory (bench/load.py --local-effects 24).
    return PhotoAnswer(
        job_id=job_id,
        content_type=media.content_type,
        size=media.size_bytes,
        chunks=opened_chunks(opened),
        result_path=f"/public/results/{job_id}",
        public_base_url=admission.settings.public_base_url,
        repeat=repeat,
    )


async def _answer_failure(
    admission: Admission, form: BoothForm, error: PhotoChangerError, recorded: dict[str, object]
) -> PhotoAnswer:
    """Close the job with its error; answer the guest's own photo when the slot says so."""
    fallback = (
        admission.slot.on_failure == OnFailure.ORIGINAL
        and isinstance(error, _FALLBACK_ERRORS)
        and "upload_content_type" in recorded
        and upload_path(form.photos[0]).exists()
    )
    error.job_id = admission.job_id
    await run_database_work(
        job_fail,
        job_id=admission.job_id,
        error=error,
        http_status=200 if fallback else error.http_status,
        fallback_original=fallback,
        duration_ms=_elapsed_ms(admission.started),
        **recorded,
    )
    if not fallback:
        raise error
    photo = form.photos[0]
    layout = output_layout(admission.call_settings)
    if layout is not None and output_for_original(admission.call_settings):
        printed, image_format = await run_image_work(
            print_ready, upload_path(photo).read_bytes(), layout
        )
        return PhotoAnswer(
            job_id=admission.job_id,
            content_type=CONTENT_TYPES[image_format],
            size=len(printed),
            data=printed,
        )
    return PhotoAnswer(
        job_id=admission.job_id,
        content_type=str(recorded["upload_content_type"]),
        size=photo.size,
        chunks=_file_chunks(upload_path(photo)),
    )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(256 * 1024):
            yield chunk


def _elapsed_ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)
