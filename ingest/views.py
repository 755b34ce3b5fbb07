"""The guest page, /r/{job_id}: the photo, a download button, how long it stays, a QR code."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import lazy
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from ingest.selectors import GuestResult, guest_result
from media.selectors import media_download_origin, media_file_exists
from photochanger.errors import ResultExpired, ResultNotFound
from photochanger.executors import run_database_work, run_image_work, run_storage_work
from photochanger.languages import public_page_language

logger = logging.getLogger(__name__)

# How the QR code is drawn: scaled by CSS, and on white so it scans on a dark screen too.
QR_SVG_OPTIONS = {"omitsize": True, "light": "#fff", "svgclass": "qr"}

# The page's URL is the key to the photo: no referrer leaves it, nothing frames it, no search
# engine keeps it, and nothing outside this server is loaded.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    # The time left changes: always ask again.
    "Cache-Control": "private, no-cache",
}


async def result_page(request: HttpRequest, job_id: str) -> HttpResponse:
    try:
        result = await run_database_work(guest_result, job_id=job_id)
    except (ResultNotFound, ResultExpired) as error:
        context = {"expired": isinstance(error, ResultExpired)}
        return _page(request, "ingest/result_gone.html", context, status=error.http_status)
    if unavailable := await _file_unavailable(result):
        return _page(request, "ingest/result_gone.html", {"unavailable": True}, status=unavailable)
    path = reverse("guest_result_page", args=[result.job_id])
    base = result.public_base_url.rstrip("/")
    page_url = f"{base}{path}" if base else request.build_absolute_uri(path)
    context = {
        "photo_url": reverse("api:result_download", kwargs={"job_id": result.job_id}),
        "expires_at": result.expires_at,
        # Lazy: worded when the page is rendered, in the guest's language.
        "time_left": lazy(time_left_text, str)(result.expires_at - timezone.now()),
        # Pure-Python work of a few milliseconds: kept off the event loop.
        "qr_svg": await run_image_work(result_page_qr_svg, page_url),
    }
    return _page(request, "ingest/result_page.html", context)


async def _file_unavailable(result: GuestResult) -> int | None:
    """The status of a page about a photo whose file cannot be had (404 when the storage does
    not have it, 500 when the storage fails), None when it is there."""
    try:
        if await run_storage_work(media_file_exists, result.media):
            return None
    except Exception as error:
        logger.error("job %s: storage cannot be asked for its photo: %r", result.job_id, error)
        return 500
    logger.warning("job %s: its photo's file is missing from storage", result.job_id)
    return 404


@functools.lru_cache(maxsize=256)
def result_page_qr_svg(url: str) -> SafeString:
    """The QR code of ``url`` as inline SVG (segno writes only its own markup)."""
    return mark_safe(segno.make(url, micro=False).svg_inline(**QR_SVG_OPTIONS))  # noqa: S308


def time_left_text(remaining: timedelta) -> str:
    """'2 days 4 hours left', '3 hours 5 minutes left', '12 minutes left': the two largest
    units, rounded down."""
    minutes = max(int(remaining.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    units = [
        (days, ngettext("%d day", "%d days", days) % days),
        (hours, ngettext("%d hour", "%d hours", hours) % hours),
        (minutes, ngettext("%d minute", "%d minutes", minutes) % minutes),
    ]
    while units and not units[0][0]:
        units.pop(0)
    if not units:
        return gettext("less than a minute left")
    shown = [text for count, text in units[:2] if count]
    return gettext("%(time)s left") % {"time": " ".join(shown)}


@functools.cache
def _bucket_origin() -> str:
    return media_download_origin()


def _page(
    request: HttpRequest, template: str, context: dict[str, object], status: int = 200
) -> HttpResponse:
    # The guest's ?lang= choice or browser language, never a cookie (photochanger.languages).
    language = public_page_language(request)
    with translation.override(language):
        response = HttpResponse(render_to_string(template, context), status=status)
    for header, value in _PAGE_HEADERS.items():
        response[header] = value
    if settings.MEDIA_DOWNLOADS == "redirect":
        # The photo's address redirects to the bucket: the image may come from there too.
        response["Content-Security-Policy"] = response["Content-Security-Policy"].replace(
            "img-src 'self'", f"img-src 'self' {_bucket_origin()}"
        )
    response["Content-Length"] = str(len(response.content))
    response["Content-Language"] = language
    patch_vary_headers(response, ["Accept-Language", "Cookie"])
    return response
