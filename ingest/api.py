"""The booth's endpoint, the staff's test run, guests' downloads, and the staff's view of jobs.

Each endpoint turns the request into values and calls one service (ingest.services): the booth's
form is read by Django's own multipart parser, through django-ninja's File and Form parameters,
after the cheap refusals (BoothPassword) and before the service runs.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import File, Form, Router, Schema, UploadedFile
from ninja.security import APIKeyQuery
from pydantic import BeforeValidator, Field

from ingest.models import Job, JobSource
from ingest.previews import print_preview_prepare, print_preview_render
from ingest.selectors import job_detail, job_get, results_archive_members
from ingest.services import PhotoAnswer, booth_gate, ingest_photo
from ingest.uploads import booth_form_read
from media.archives import zip_chunks
from media.responses import stored_media_response
from media.selectors import media_file_bytes, public_result
from media.services import thumbnail_for_job
from photochanger.auth import staff_auth, staff_with
from photochanger.errors import InvalidRequest, ResultNotFound
from photochanger.executors import run_database_work, run_image_work
from photochanger.schemas import ErrorOut
from photochanger.throttle import client_address, guarded_lookup
from slots.services import SlotOverrides

router = Router(tags=["ingest"])
public_router = Router(tags=["public"])
staff_router = Router(tags=["jobs"], auth=staff_auth)

_ERRORS = {code: ErrorOut for code in (400, 401, 404, 413, 415, 422, 429, 500, 502, 504)}
_IMAGE_ANSWER = {
    "responses": {
        "200": {
            "description": "The processed image, with headers X-Job-Id and X-Result-Url.",
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
        }
    }
}


class BoothPassword(APIKeyQuery):
    """The ingest password in the URL (``?password=``), where booth software can put it; the
    form's ``password`` field works too. Checked before the form is read, with an address that
    kept sending wrong ones: both refusals cost no parsing."""

    param_name = "password"

    async def authenticate(self, request: HttpRequest, key: str | None) -> str:
        client = client_address(request)
        slot_id = request.resolver_match.kwargs.get("slot_id", "") if request.resolver_match else ""
        await booth_gate(client=client, url_password=key, slot_id=slot_id)
        return client


# {path:…}: an id with an encoded slash still reaches the view, so a wrong password answers
# 401 whatever the slot id (slots cannot be probed) and a bad id answers slot_not_found.
@router.post(
    "/ingest/{path:slot_id}",
    auth=BoothPassword(),
    response=_ERRORS,
    openapi_extra=_IMAGE_ANSWER,
    summary="Process a booth photo",
    description="Any other form field (time, profile, name, …) is kept on the job as metadata.",
)
async def ingest(
    request: HttpRequest,
    slot_id: str,
    fileToUpload: File[UploadedFile] = None,
    file: File[UploadedFile] = None,
    password: Annotated[
        str | None, Form(description="The ingest password, if not in the URL.")
    ] = None,
    hash: Annotated[str | None, Form(description="Hex MD5, SHA-1 or SHA-256 of the photo.")] = None,
) -> HttpResponse:
    # The parameters document the form and have ninja read it with Django's parser; the values
    # are taken from request.POST and FILES, which keep what the contract refuses (two photos,
    # two different passwords) and every other field (metadata).
    answer = await ingest_photo(
        slot_id=slot_id,
        form=booth_form_read(request.POST, request.FILES),
        password=request.GET.get("password"),
        client=request.auth,
    )
    return photo_response(answer, request)


_OVERRIDES_HELP = (
    'Unsaved changes as JSON, e.g. {"settings": {"prompt": "…"}}; '
    "keys: provider, operation, settings."
)


@staff_router.post(
    "/slots/{slot_id}/test-run",
    auth=staff_with("slots.test_slot"),
    tags=["slots"],
    response=_ERRORS,
    openapi_extra=_IMAGE_ANSWER,
    summary="Run a test photo through a slot",
    description="The booth's pipeline without the password, on a slot active or not, recorded "
    "with source test_run. Answers what a booth would get: the image with X-Job-Id and "
    "X-Result-Url, or the error.",
)
async def slot_test_run(
    request: HttpRequest,
    slot_id: str,
    fileToUpload: File[UploadedFile] = None,
    overrides: Annotated[str | None, Form(description=_OVERRIDES_HELP)] = None,
) -> HttpResponse:
    form = booth_form_read(request.POST, request.FILES)
    form.metadata.pop("overrides", None)  # the test run's own field, not booth metadata
    answer = await ingest_photo(
        slot_id=slot_id,
        form=form,
        source=JobSource.TEST_RUN,
        overrides=_overrides(overrides),
    )
    return photo_response(answer, request)


class PrintPreviewIn(Schema):
    settings: dict = Field(default_factory=dict, description="The slot's settings, saved or not")
    guest_qr_corner: str = Field("", description="top-left, top-right, bottom-left, bottom-right")
    guest_qr_caption: str = Field("", max_length=40)


@staff_router.post(
    "/slots/{slot_id}/print-preview",
    auth=staff_with("slots.test_slot"),
    tags=["slots"],
    response={code: ErrorOut for code in (400, 401, 403, 404, 422)},
    openapi_extra={"responses": {"200": {"description": "A JPEG", "content": {"image/jpeg": {}}}}},
    summary="Preview a slot's print layout on its last test run",
    description="The last test run's answer (kept for a day, before any layout), laid out at "
    "screen size by the output block in the given settings and stamped with the guest's QR "
    "code when a corner is given: what the slot page shows while staff edit. 404 no_test_run "
    "when the slot has had no test run lately.",
)
async def slot_print_preview(
    request: HttpRequest, slot_id: str, payload: PrintPreviewIn
) -> HttpResponse:
    preview = await run_database_work(
        print_preview_prepare,
        slot_id=slot_id,
        settings=payload.settings,
        qr_corner=payload.guest_qr_corner,
        qr_caption=payload.guest_qr_caption,
    )
    image = await run_image_work(print_preview_render, preview)
    return HttpResponse(image, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _overrides(raw: str | None) -> SlotOverrides:
    if not raw:
        return SlotOverrides()
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidRequest("overrides must be JSON") from None
    if not isinstance(data, dict) or set(data) - {"provider", "operation", "settings"}:
        raise InvalidRequest("overrides may set provider, operation and settings")
    return SlotOverrides(
        provider=data.get("provider"),
        operation=data.get("operation"),
        settings=data.get("settings"),
    )


def photo_response(answer: PhotoAnswer, request: HttpRequest) -> HttpResponse:
    """The image with the headers every answer of ours carries (SPEC §3)."""
    if answer.chunks is not None:
        response: HttpResponse = StreamingHttpResponse(
            answer.chunks, content_type=answer.content_type
        )
    else:
        response = HttpResponse(answer.data, content_type=answer.content_type)
    response["Content-Length"] = str(answer.size)
    if answer.result_path:
        response["X-Result-Url"] = _absolute_url(answer.result_path, answer, request)
    else:
        response["X-PhotoChanger-Fallback"] = "original"
    response["X-Job-Id"] = str(answer.job_id)
    if answer.repeat:
        # A re-send of a photo already answered: the image and job are the first ones.
        response["X-PhotoChanger-Repeat"] = "true"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _absolute_url(path: str, answer: PhotoAnswer, request: HttpRequest) -> str:
    base = answer.public_base_url.rstrip("/")
    if base:
        return f"{base}{path}"
    try:
        return request.build_absolute_uri(path)
    except DisallowedHost:
        # A Host header that is not a host name: name the address the booth reached instead.
        return (
            f"{request.scheme}://{request.META['SERVER_NAME']}:{request.META['SERVER_PORT']}{path}"
        )


@public_router.get("/public/results/{job_id}", summary="Download a guest's result", auth=None)
async def result_download(request: HttpRequest, job_id: str) -> HttpResponse:
    media = await run_database_work(
        guarded_lookup, public_result, client=client_address(request), job_id=job_id
    )
    return await stored_media_response(
        media,
        cache_control="private, no-cache",
        missing=ResultNotFound,
        download_name=f"photo-{media.job_id}.{media.extension}",
    )


class UploadOut(Schema):
    filename: str | None
    size: int | None
    content_type: str | None
    sha256: str | None
    hash: str | None = Field(description="The checksum the booth sent, if any.")
    hash_matches: bool | None = Field(description="null when the booth sent no checksum.")


class ResultOut(Schema):
    url: str = Field(description="The guest's public download URL.")
    expires_at: datetime | None
    content_type: str
    size_bytes: int


class AttemptOut(Schema):
    step: int
    slot: str
    provider: str
    operation: str
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="ok, failed, timeout, refused or skipped")
    error: str = Field(
        description="unavailable, failed, timeout, refused, no_time or input; empty when ok"
    )
    details: str


class JobOut(Schema):
    id: uuid.UUID
    slot: str
    source: str
    provider: str
    operation: str
    status: str
    failure_reason: str | None
    failure_details: str | None
    http_status: int | None
    fallback_original: bool
    started_at: datetime
    finished_at: datetime | None
    deadline_at: datetime
    duration_ms: int | None
    provider_ms: int | None
    upload: UploadOut
    metadata: dict[str, Any]
    prompt_sent: str = Field(
        description="The prompt as the provider got it, its placeholders filled from the "
        "booth's form fields; empty for a slot without a prompt."
    )
    attempts: list[AttemptOut] = Field(
        description="Each provider the failover chain tried, in order (empty for jobs that "
        "never reached one)."
    )
    repeat_of: uuid.UUID | None = Field(
        description="For a booth's re-send of a photo: the first job, whose result it got."
    )
    served_step: int | None = Field(
        description="Who served the guest: 0 the slot's own provider, 1 and 2 its failover "
        "slots; null when none did."
    )
    result: ResultOut | None
    thumbnail_url: str | None = Field(description="A small WebP of the result, for staff.")

    @staticmethod
    def resolve_slot(job: Job) -> str:
        return job.slot_id

    @staticmethod
    def resolve_repeat_of(job: Job) -> uuid.UUID | None:
        return job.repeat_of_id

    @staticmethod
    def resolve_failure_reason(job: Job) -> str | None:
        return job.failure_reason or None

    @staticmethod
    def resolve_failure_details(job: Job) -> str | None:
        return job.failure_details or None

    @staticmethod
    def resolve_upload(job: Job) -> dict[str, object]:
        return {
            "filename": job.upload_filename or None,
            "size": job.upload_size,
            "content_type": job.upload_content_type or None,
            "sha256": job.upload_sha256 or None,
            "hash": job.upload_hash or None,
            "hash_matches": job.upload_hash_matches,
        }

    @staticmethod
    def resolve_result(job: Job, context: dict) -> dict[str, object] | None:
        if job.result is None:
            return None
        return {
            # Already absolute when public_base_url is set; else relative to this request.
            "url": context["request"].build_absolute_uri(job.result_url),
            "expires_at": job.result_expires_at or job.result.expires_at,
            "content_type": job.result.content_type,
            "size_bytes": job.result.size_bytes,
        }

    @staticmethod
    def resolve_thumbnail_url(job: Job, context: dict) -> str | None:
        if job.result is None:
            return None
        path = reverse("api:job_thumbnail", kwargs={"job_id": str(job.pk)})
        return context["request"].build_absolute_uri(path)


# A form's empty date field means no limit.
_OptionalMoment = Annotated[datetime | None, BeforeValidator(lambda value: value or None)]


@staff_router.get(
    "/results/archive",
    auth=staff_with("ingest.view_job", "media.view_storedmedia"),
    url_name="results_archive",
    summary="The event's photos in one ZIP",
    description="Every guest's photo still kept (expired ones are gone), of booth jobs started "
    "from `since` up to `until` (ISO 8601; both optional) and of `slot_id` when given, as one "
    "ZIP streamed while it is built: slot-001/20261207-143005-1a2b3c4d.jpg, … Test runs are "
    "left out. A time without a zone is the server's local time.",
    openapi_extra={
        "responses": {"200": {"description": "ZIP", "content": {"application/zip": {}}}}
    },
)
async def results_archive(
    request: HttpRequest,
    since: _OptionalMoment = None,
    until: _OptionalMoment = None,
    slot_id: str | None = None,
) -> StreamingHttpResponse:
    members = await run_database_work(
        results_archive_members, since=_aware(since), until=_aware(until), slot_id=slot_id
    )
    response = StreamingHttpResponse(zip_chunks(members), content_type="application/zip")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="photochanger-{stamp}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


def _aware(moment: datetime | None) -> datetime | None:
    # A browser's date and time field sends no zone: it means the server's (TIME_ZONE).
    if moment is not None and timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return moment


@staff_router.get(
    "/jobs/{job_id}",
    auth=staff_with("ingest.view_job"),
    response={200: JobOut, 404: ErrorOut},
    summary="Get a job",
)
def job_read(request: HttpRequest, job_id: str) -> Job:
    return job_detail(job_id=job_id)


@staff_router.get(
    "/jobs/{job_id}/thumbnail",
    auth=staff_with("ingest.view_job"),
    url_name="job_thumbnail",
    response={404: ErrorOut},
    summary="A job's result thumbnail",
    description="A small WebP, made on first request; 404 result_not_found without a result.",
    openapi_extra={"responses": {"200": {"description": "WebP", "content": {"image/webp": {}}}}},
)
def job_thumbnail(request: HttpRequest, job_id: str) -> HttpResponse:
    thumbnail = thumbnail_for_job(job_id=job_get(job_id=job_id).pk)
    if thumbnail is None:
        raise ResultNotFound("the job has no result")
    response = HttpResponse(
        media_file_bytes(storage_name=thumbnail.storage_name), content_type=thumbnail.content_type
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
