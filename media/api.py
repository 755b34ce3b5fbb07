"""Public downloads of results."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from media.selectors import media_chunks, provider_media_public, public_result
from photochanger.errors import MediaNotFound, ResultNotFound
from photochanger.executors import run_database_work
from photochanger.throttle import FailureLimit, client_address

R = TypeVar("R")

router = Router(tags=["public"])

# Result and provider-media ids are UUID4s; a client asking for many unknown ones is guessing.
UNKNOWN_LINKS = FailureLimit(
    name="unknown-links",
    limit=settings.RESULT_GUESS_FAILURES,
    window_seconds=300,
    block_seconds=300,
    message="too many unknown links from this address; try again later",
)


def guarded_lookup(lookup: Callable[..., R], request: HttpRequest, **kwargs: object) -> R:
    """Run a public lookup, refusing clients that keep asking for ids that do not exist."""
    client = client_address(request)
    UNKNOWN_LINKS.check(client)
    try:
        return lookup(**kwargs)
    except (ResultNotFound, MediaNotFound):
        UNKNOWN_LINKS.record_failure(client)
        raise


@router.get("/public/results/{job_id}", summary="Download a guest's result", auth=None)
async def result_download(request: HttpRequest, job_id: str) -> StreamingHttpResponse:
    media = await run_database_work(guarded_lookup, public_result, request, job_id=job_id)
    response = StreamingHttpResponse(media_chunks(media), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Content-Disposition"] = f'attachment; filename="photo-{job_id}.{media.extension}"'
    response["Cache-Control"] = "private, no-cache"
    return response


@router.get("/public/provider-media/{media_id}", summary="An image a provider downloads", auth=None)
async def provider_media_download(request: HttpRequest, media_id: str) -> StreamingHttpResponse:
    media = await run_database_work(
        guarded_lookup, provider_media_public, request, media_id=media_id
    )
    response = StreamingHttpResponse(media_chunks(media), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Cache-Control"] = "no-store"
    return response
