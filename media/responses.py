"""A stored file as an HTTP answer, streamed: a 10 MB result is never held whole in memory.

The file is opened, and its first chunk read, before the answer starts: a file the storage
does not have (or cannot give) is a clear 404 or 500 at once, never a connection left open.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse

from media.models import StoredMedia
from media.selectors import (
    StoredFileMissing,
    media_download_url,
    media_file_open,
    opened_chunks,
)
from photochanger.errors import InternalError, PhotoChangerError
from photochanger.executors import run_storage_work

logger = logging.getLogger(__name__)


async def stored_media_response(
    media: StoredMedia,
    *,
    cache_control: str,
    missing: type[PhotoChangerError],
    download_name: str = "",
) -> HttpResponse:
    """``media`` streamed through us, or (MEDIA_DOWNLOADS=redirect, for a ``download_name``)
    a redirect to a short-lived presigned URL of the bucket. Raises ``missing`` when the
    storage does not have the file, InternalError when the storage fails."""
    try:
        redirect = download_name and settings.MEDIA_DOWNLOADS == "redirect"
        if redirect and (
            url := await run_storage_work(media_download_url, media, filename=download_name)
        ):
            response = HttpResponseRedirect(url)
            response["Cache-Control"] = "no-store"
            return response
        opened = await run_storage_work(media_file_open, media)
    except StoredFileMissing:
        logger.warning(
            "job %s: the stored file %s is missing from storage", media.job_id, media.storage_name
        )
        raise missing("the file is missing from the server's storage") from None
    except Exception as error:
        logger.error(
            "job %s: the stored file %s cannot be read: %r", media.job_id, media.storage_name, error
        )
        raise InternalError(
            f"the stored file of job {media.job_id} cannot be read; it has been logged"
        ) from None
    response = StreamingHttpResponse(opened_chunks(opened), content_type=media.content_type)
    response["Content-Length"] = str(media.size_bytes)
    response["Cache-Control"] = cache_control
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
