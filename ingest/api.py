"""POST /api/ingest/{slot_id}: the booth sends a photo and gets the processed one back.

And the staff's view of jobs: /api/jobs/…
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router, Schema
from pydantic import Field

from ingest.models import Job
from ingest.pipeline import ingest_photo
from ingest.selectors import job_detail, job_get
from media.selectors import media_bytes
from media.services import thumbnail_for_job
from photochanger.auth import staff_auth
from photochanger.errors import MethodNotAllowed, ResultNotFound
from photochanger.schemas import ErrorOut

router = Router(tags=["ingest"])
staff_router = Router(tags=["jobs"], auth=staff_auth)

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fileToUpload"],
                    "properties": {
                        "password": {
                            "type": "string",
                            "description": "The ingest password (or ?password= in the URL).",
                        },
                        "fileToUpload": {
                            "type": "string",
                            "format": "binary",
                            "description": "The photo: JPEG, PNG or WebP (alias: file).",
                        },
                        "hash": {
                            "type": "string",
                            "description": "Optional hex MD5, SHA-1 or SHA-256 of the photo.",
                        },
                    },
                    "additionalProperties": {
                        "type": "string",
                        "description": "Booth metadata (time, profile, name, …), kept on the job.",
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "The processed image (headers X-Job-Id, X-Result-Url).",
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
        }
    },
}


# {path:…}: an id with an encoded slash still reaches the view, so a wrong password answers
# 401 whatever the slot id (slots cannot be probed) and a bad id answers slot_not_found.
@router.post("/ingest/{path:slot_id}", openapi_extra=_FORM_SCHEMA, summary="Process a booth photo")
async def ingest(request: HttpRequest, slot_id: str) -> HttpResponse:
    return await ingest_photo(request=request, slot_id=slot_id)


@router.api_operation(
    ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"], "/ingest/{path:slot_id}", include_in_schema=False
)
def ingest_other_methods(request: HttpRequest, slot_id: str) -> HttpResponse:
    raise MethodNotAllowed("send the photo with POST")


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
    result: ResultOut | None
    thumbnail_url: str | None = Field(description="A small WebP of the result, for staff.")

    @staticmethod
    def resolve_slot(job: Job) -> str:
        return job.slot_id

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


@staff_router.get("/jobs/{job_id}", response={200: JobOut, 404: ErrorOut}, summary="Get a job")
def job_read(request: HttpRequest, job_id: str) -> Job:
    return job_detail(job_id=job_id)


@staff_router.get(
    "/jobs/{job_id}/thumbnail",
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
    response = HttpResponse(media_bytes(thumbnail), content_type=thumbnail.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
