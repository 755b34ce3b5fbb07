"""Public downloads of provider media: the images a provider fetches by URL during a job."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from media.responses import stored_media_response
from media.selectors import provider_media_public
from photochanger.errors import MediaNotFound
from photochanger.executors import run_database_work
from photochanger.throttle import client_address, guarded_lookup

router = Router(tags=["public"])


@router.get("/public/provider-media/{media_id}", summary="An image a provider downloads", auth=None)
async def provider_media_download(request: HttpRequest, media_id: str) -> HttpResponse:
    media = await run_database_work(
        guarded_lookup, provider_media_public, client=client_address(request), media_id=media_id
    )
    return await stored_media_response(media, cache_control="no-store", missing=MediaNotFound)
