"""The ingest hot path: from the booth's request to the processed image, within the deadline.

The checks up to the provider call are in ingest.admission. The provider runs under
``T_sync_response``; past it the booth gets 504 at once and the provider call is cancelled. Work
the answer does not need (the upload's digests, the job's log line and live announcement) runs
after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from ingest.admission import (
    Admission,
    elapsed_ms,
    ingest_admit,
    internal_error,
    test_run_admit,
)
from ingest.background import job_answered, job_finished, upload_keep_open
from ingest.capacity import capacity
from ingest.services import job_fail, job_succeed
from media.models import StoredMedia
from media.selectors import media_chunks, provider_media_url, template_image_bytes
from media.services import provider_media_publish
from photochanger.errors import (
    ClientDisconnected,
    InternalError,
    PhotoChangerError,
    ProviderFailed,
    ProviderTimeout,
    UnsupportedMediaType,
)
from photochanger.executors import run_database_work
from providers.base import (
    Provider,
    ProviderError,
    ProviderInputError,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.registry import provider_for
from slots.models import OnFailure, TemplateImage
from slots.selectors import provider_api_key
from slots.services import SlotOverrides

logger = logging.getLogger(__name__)

_FALLBACK_ERRORS = (ProviderFailed, ProviderTimeout, InternalError)


async def ingest_photo(*, request: HttpRequest, slot_id: str) -> HttpResponse:
    """Answer the booth: the processed image (200) or a PhotoChangerError."""
    started = time.monotonic()
    async with _reported():
        admission = await run_database_work(
            ingest_admit, request=request, slot_id=slot_id, started=started
        )
        return await _answer(admission, request)


async def test_run_photo(
    *, request: HttpRequest, slot_id: str, overrides: SlotOverrides
) -> HttpResponse:
    """Staff's test run: the booth's pipeline (source ``test_run``) without the password,
    on a slot active or not, with unsaved changes applied to this run only."""
    started = time.monotonic()
    async with _reported():
        admission = await run_database_work(
            test_run_admit, request=request, slot_id=slot_id, overrides=overrides, started=started
        )
        return await _answer(admission, request)


@contextlib.asynccontextmanager
async def _reported() -> AsyncIterator[None]:
    """Report the request's job (log line, live views) once it has ended, however it ended."""
    try:
        yield
    except PhotoChangerError as error:
        if error.job_id is not None:
            job_finished(error.job_id)
        raise


async def _answer(admission: Admission, request: HttpRequest) -> HttpResponse:
    try:
        return await _process(admission, request)
    except PhotoChangerError:
        raise
    except Exception as cause:
        raise await run_database_work(
            internal_error, job_id=admission.job_id, started=admission.started, cause=cause
        ) from None
    finally:
        capacity.release(job_id=admission.job_id)


async def _process(admission: Admission, request: HttpRequest) -> HttpResponse:
    provider_started = time.monotonic()
    try:
        result = await _provider_call(admission)
    except PhotoChangerError as error:
        return await _answer_failure(admission, error, provider_started)
    except asyncio.CancelledError:
        # The booth hung up (its own timeout): nobody will see an answer.
        await run_database_work(
            job_fail,
            job_id=admission.job_id,
            error=ClientDisconnected("the booth hung up before the answer"),
            http_status=None,
            duration_ms=elapsed_ms(admission.started),
        )
        job_finished(admission.job_id)
        raise
    # Everything the answer needs is worked out before the job is marked done, so nothing can
    # fail between a job recorded as answered 200 and that answer.
    result_url = _result_url(admission, request)
    upload_file = upload_keep_open(upload=admission.upload, upload_sha256=admission.upload_sha256)
    try:
        media = await run_database_work(
            job_succeed,
            job_id=admission.job_id,
            result=admission.upload.photo if result.photo_unchanged else result.data,
            image_format=result.format,
            ttl_hours=admission.settings.result_ttl_hours,
            duration_ms=elapsed_ms(admission.started),
            provider_ms=elapsed_ms(provider_started),
            upload_content_type=admission.photo.content_type,
        )
    except BaseException:
        if upload_file is not None:
            upload_file.close()
        raise
    if media is None:
        if upload_file is not None:
            upload_file.close()
        raise RuntimeError("the job was closed while it ran")
    job_answered(
        job_id=admission.job_id,
        upload=admission.upload,
        upload_file=upload_file,
        upload_sha256=admission.upload_sha256,
    )
    return _success_response(admission, media, result, result_url)


async def _provider_call(admission: Admission) -> ProviderResult:
    slot = admission.slot
    provider = provider_for(slot.provider)
    if provider is None:
        raise ProviderFailed(f"the provider {slot.provider!r} is not available")
    try:
        async with asyncio.timeout(admission.deadline.remaining()) as timeout:
            if provider.needs_public_urls or provider.uses_template_images(slot.operation):
                request = await run_database_work(_provider_request, admission, provider)
            else:
                request = _provider_request(admission, provider)  # no query: no thread hop
            return await provider.process(request)
    except TimeoutError:
        if timeout.expired():
            raise ProviderTimeout(
                f"no answer within {admission.settings.sync_response_seconds} s"
            ) from None
        raise ProviderFailed("the provider timed out") from None
    except ProviderInputError as error:
        raise UnsupportedMediaType(str(error)) from None
    except ProviderError as error:
        raise ProviderFailed(str(error)) from None
    except PhotoChangerError:
        raise
    except Exception:
        logger.exception("provider %s failed on job %s", slot.provider, admission.job_id)
        raise InternalError("the provider driver failed") from None


def _provider_request(admission: Admission, provider: Provider) -> ProviderRequest:
    """What the driver gets: the photo, and the template images it uses, as bytes or, for a
    provider that downloads them itself, as provider-media URLs valid until the deadline."""
    slot = admission.slot
    templates = (
        list(slot.template_images.all()) if provider.uses_template_images(slot.operation) else []
    )
    if provider.needs_public_urls:
        photo_url, template_images = _published_inputs(admission, templates)
    else:
        photo_url = ""
        template_images = [
            TemplateImageInput(
                role=template.role,
                content_type=template.content_type,
                data=template_image_bytes(template),
            )
            for template in templates
        ]
    return ProviderRequest(
        job_id=str(admission.job_id),
        photo_path=Path(admission.upload.photo.temporary_file_path()),
        photo_format=admission.photo.format,
        photo_orientation=admission.photo.orientation,
        operation=slot.operation,
        settings=slot.settings,
        template_images=template_images,
        api_key=provider_api_key(settings=admission.settings, provider=slot.provider),
        deadline=admission.deadline,
        photo_url=photo_url,
    )


def _published_inputs(
    admission: Admission, templates: list[TemplateImage]
) -> tuple[str, list[TemplateImageInput]]:
    base_url = admission.settings.public_base_url
    if not base_url:
        raise ProviderFailed(
            f"{admission.slot.provider} downloads the photo from this server: "
            "set the public base URL in the settings"
        )
    published = provider_media_publish(
        job_id=admission.job_id,
        photo_path=Path(admission.upload.photo.temporary_file_path()),
        photo_content_type=admission.photo.content_type,
        templates=templates,
        expires_at=admission.deadline_at,
    )
    photo, *template_media = [
        provider_media_url(media=item.media, public_base_url=base_url) for item in published
    ]
    inputs = [
        TemplateImageInput(
            role=template.role, content_type=template.content_type, data=b"", url=url
        )
        for template, url in zip(templates, template_media, strict=True)
    ]
    return photo, inputs


async def _answer_failure(
    admission: Admission, error: PhotoChangerError, provider_started: float
) -> HttpResponse:
    error.job_id = admission.job_id
    fallback = admission.slot.on_failure == OnFailure.ORIGINAL and isinstance(
        error, _FALLBACK_ERRORS
    )
    await run_database_work(
        job_fail,
        job_id=admission.job_id,
        error=error,
        http_status=200 if fallback else error.http_status,
        fallback_original=fallback,
        duration_ms=elapsed_ms(admission.started),
        provider_ms=elapsed_ms(provider_started),
        upload_content_type=admission.photo.content_type,
    )
    if not fallback:
        raise error
    job_finished(admission.job_id)
    photo_path = Path(admission.upload.photo.temporary_file_path())
    response = StreamingHttpResponse(
        _file_chunks(photo_path), content_type=admission.photo.content_type
    )
    response["Content-Length"] = str(admission.upload.photo.size)
    response["X-PhotoChanger-Fallback"] = "original"
    return _with_job_headers(response, admission.job_id)


def _success_response(
    admission: Admission, media: StoredMedia, result: ProviderResult, result_url: str
) -> HttpResponse:
    if result.photo_unchanged:
        response: HttpResponse = StreamingHttpResponse(
            media_chunks(media), content_type=media.content_type
        )
        response["Content-Length"] = str(media.size_bytes)
    else:
        response = HttpResponse(result.data, content_type=media.content_type)
        response["Content-Length"] = str(len(result.data))
    response["X-Result-Url"] = result_url
    return _with_job_headers(response, admission.job_id)


def _with_job_headers(response: HttpResponse, job_id: uuid.UUID) -> HttpResponse:
    response["X-Job-Id"] = str(job_id)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _result_url(admission: Admission, request: HttpRequest) -> str:
    path = f"/public/results/{admission.job_id}"
    base = admission.settings.public_base_url.rstrip("/")
    if base:
        return f"{base}{path}"
    try:
        return request.build_absolute_uri(path)
    except DisallowedHost:
        # A Host header that is not a host name: name the address the booth reached instead.
        return (
            f"{request.scheme}://{request.META['SERVER_NAME']}:{request.META['SERVER_PORT']}{path}"
        )


async def _file_chunks(path: Path):
    with path.open("rb") as file:
        while chunk := file.read(256 * 1024):
            yield chunk
