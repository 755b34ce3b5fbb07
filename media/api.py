"""Public downloads of results."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from media.selectors import media_chunks, provider_media_public, public_result
from photochanger.executors import run_database_work

router = Router(tags=["public"])


@router.get("/public/results/{job_id}", summary="Download a guest's result", auth=None)
async def result_download(request: HttpRequest, job_id: str) -> StreamingHttpResponse:
    media = await run_database_work(public_result, job_id=job_id)
    response = StreamingHttpResponse(media_chunks(media), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Content-Disposition"] = f'attachment; filename="photo-{job_id}.{media.extension}"'
    response["Cache-Control"] = "private, no-cache"
    return response


@router.get("/public/provider-media/{media_id}", summary="An image a provider downloads", auth=None)
async def provider_media_download(request: HttpRequest, media_id: str) -> StreamingHttpResponse:
    media = await run_database_work(provider_media_public, media_id=media_id)
    response = StreamingHttpResponse(media_chunks(media), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Cache-Control"] = "no-store"
    return response
