"""A stored file as an HTTP answer, streamed: a 10 MB result is never held whole in memory."""

from __future__ import annotations

from django.http import StreamingHttpResponse

from media.models import StoredMedia
from media.selectors import media_chunks


def stored_media_response(media: StoredMedia, *, cache_control: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(media_chunks(media), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response
