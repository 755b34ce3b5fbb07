"""Pages of the stats app: the staff's stats page, the public event gallery, and /metrics."""

from __future__ import annotations

import hmac
import ipaddress
import threading
import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views.decorators.http import require_GET, require_POST

from ingest.services import refused_address_release, wrong_passwords
from media.models import MediaKind
from media.selectors import media_file_bytes
from media.services import thumbnail_for_job
from photochanger.errors import InvalidRequest, RateLimited
from photochanger.languages import public_page_language
from photochanger.responses import error_response, json_response
from photochanger.throttle import client_address
from photochanger.tokens import api_token_user
from slots.readiness import active_slots_missing
from slots.selectors import slot_ids
from stats.metrics import CONTENT_TYPE, metrics_text
from stats.selectors import (
    GALLERY_CACHE_SECONDS,
    GallerySnapshot,
    gallery_shared_until,
    gallery_snapshot,
    paid_calls_overview,
    refused_addresses,
)
from stats.services import gallery_request_admit, gallery_share, gallery_stop

WINDOW_CHOICES = [
    (5, gettext_lazy("5 minutes")),
    (15, gettext_lazy("15 minutes")),
    (60, gettext_lazy("1 hour")),
    (360, gettext_lazy("6 hours")),
    (1440, gettext_lazy("1 day")),
    (4320, gettext_lazy("3 days")),
]
DEFAULT_WINDOW_MINUTES = 60
SHARE_CHOICES = [15, 30, 60, 120, 240, 480]
GALLERY_REFRESH_SECONDS = 10
_THUMBNAIL_CACHE_SECONDS = 300
# Thumbnails are made on first request; one at a time, so a crowd opening the gallery together
# does not render (and store) the same thumbnail many times over.
_thumbnail_lock = threading.Lock()


@staff_member_required
@permission_required("stats.view_statistics", raise_exception=True)
@require_GET
def stats_page(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "")
    known = {str(minutes): minutes for minutes, _label in WINDOW_CHOICES}
    context = {
        **admin.site.each_context(request),
        "title": _("Statistics and live jobs"),
        "window_choices": WINDOW_CHOICES,
        "window_minutes": known.get(window, DEFAULT_WINDOW_MINUTES),
        "share_choices": SHARE_CHOICES,
        "gallery_shared_until": gallery_shared_until(),
        "refused_addresses": refused_addresses(),
        "slot_ids": slot_ids(),
        "slots_not_ready": {
            slot_id: missing for slot_id, missing in active_slots_missing().items() if missing
        },
        "password_limit": wrong_passwords(),
        "paid_calls": paid_calls_overview(),
        "labels": _page_labels(),
    }
    return render(request, "stats/stats_page.html", context)


@staff_member_required
@permission_required("slots.change_globalsettings", raise_exception=True)
@require_POST
def refused_address_forget(request: HttpRequest) -> HttpResponse:
    address = request.POST.get("address", "").strip()
    if not address:
        messages.error(request, _("Choose an address to release."))
    elif refused_address_release(address=address):
        messages.success(request, _("%(address)s may send photos again.") % {"address": address})
    else:
        messages.info(request, _("%(address)s was not refused.") % {"address": address})
    return redirect("stats:page")


@staff_member_required
@permission_required("stats.change_gallerysharing", raise_exception=True)
@require_POST
def gallery_sharing(request: HttpRequest) -> HttpResponse:
    if request.POST.get("action") == "stop":
        gallery_stop(user=request.user)
        messages.success(request, _("The gallery is no longer shared."))
    else:
        try:
            minutes = int(request.POST.get("minutes", ""))
            gallery_share(minutes=minutes, user=request.user)
        except (ValueError, InvalidRequest):
            messages.error(request, _("Choose how many minutes to share the gallery for."))
        else:
            messages.success(
                request,
                ngettext(
                    "The gallery is shared for %d minute.",
                    "The gallery is shared for %d minutes.",
                    minutes,
                )
                % minutes,
            )
    return redirect("stats:page")


@require_GET
def gallery_page(request: HttpRequest) -> HttpResponse:
    # Guests pick a language with ?lang= (kept in the link, no cookie); else their browser's.
    language = public_page_language(request)
    with translation.override(language):
        response = _gallery_page(request)
    response["Content-Language"] = language
    return response


def _gallery_page(request: HttpRequest) -> HttpResponse:
    try:
        gallery_request_admit(client=client_address(request))
    except RateLimited as error:
        page = render(request, "stats/gallery_closed.html", {"too_many": True}, status=429)
        return _too_many(page, error)
    snapshot = gallery_snapshot()
    if snapshot is None:
        return render(request, "stats/gallery_closed.html", status=403)
    context = {
        "gallery": _gallery_json(snapshot),
        "refresh_seconds": GALLERY_REFRESH_SECONDS,
        "labels": _gallery_labels(),
    }
    response = render(request, "stats/gallery.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def gallery_data(request: HttpRequest) -> JsonResponse:
    try:
        gallery_request_admit(client=client_address(request))
    except RateLimited as error:
        return error_response(error)
    snapshot = gallery_snapshot()
    if snapshot is None:
        return _not_shared()
    response = json_response(_gallery_json(snapshot), status=200)
    response["Cache-Control"] = f"public, max-age={GALLERY_CACHE_SECONDS}"
    return response


@require_GET
def gallery_thumbnail(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    try:
        gallery_request_admit(client=client_address(request), images=True)
    except RateLimited as error:
        return error_response(error)
    snapshot = gallery_snapshot()
    if snapshot is None:
        return _not_shared()
    if str(job_id) not in snapshot.job_ids:
        return json_response({"status": "error", "failure_reason": "result_not_found"}, status=404)
    key = f"stats:gallery:thumbnail:{job_id}"
    data = cache.get(key)
    if data is None:
        with _thumbnail_lock:
            thumbnail = thumbnail_for_job(job_id=job_id)
            data = (
                media_file_bytes(storage_name=thumbnail.storage_name)
                if thumbnail is not None
                else b""
            )
        cache.set(key, data, timeout=_THUMBNAIL_CACHE_SECONDS)
    if not data:
        return json_response({"status": "error", "failure_reason": "result_not_found"}, status=404)
    response = HttpResponse(data, content_type="image/webp")
    # Only this device keeps it: the photos are guests', not for shared proxies.
    response["Cache-Control"] = "private, max-age=600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_read_metrics(request):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(metrics_text(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def _may_read_metrics(request: HttpRequest) -> bool:
    """METRICS_TOKEN, a staff API token whose owner may view statistics, or a scraper on this
    machine (a request a proxy forwarded is not one, even from loopback)."""
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        if settings.METRICS_TOKEN and hmac.compare_digest(
            token.encode(), settings.METRICS_TOKEN.encode()
        ):
            return True
        user = api_token_user(plaintext=token)
        return user is not None and user.has_perm("stats.view_statistics")
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
    return loopback and "HTTP_X_FORWARDED_FOR" not in request.META


def _page_labels() -> dict[str, object]:
    """Words the page's script shows, in the staff member's language (scripts get their words
    from the page, not from a JavaScript catalog). ``%(name)s`` is filled in by the script."""
    return {
        "done": _("done"),
        "failed": _("failed"),
        "timeout": _("timeout"),
        "pending": _("pending"),
        "ingest": _("booth"),
        "test_run": _("test run"),
        "live": _("live"),
        "connecting": _("connecting…"),
        "offline": _("offline, reconnecting…"),
        "updated": _("updated"),
        "no_failures": _("No failures in this window."),
        "no_test_runs": _("No test runs in this window."),
        "test_runs_summary": _(
            "%(jobs)s test runs: %(done)s done, %(failed)s failed, %(timeouts)s timeouts"
        ),
        "job": _("job"),
        "old_password": _("old password"),
        "wrong_password": _("wrong password"),
        "no_data": _("No jobs in this window."),
        "chart_point": _(
            "%(time)s: %(jobs)s jobs, %(done)s done, %(failed)s failed, %(timeouts)s timeouts"
        ),
        "media_kinds": {kind: str(label) for kind, label in MediaKind.choices},
        "units": _unit_labels(),
    }


def _unit_labels() -> dict[str, str]:
    """Units as the page's scripts write them after a number."""
    return {
        "ms": pgettext("unit", "ms"),
        "s": pgettext("unit", "s"),
        "B": pgettext("unit", "B"),
        "KB": pgettext("unit", "KB"),
        "MB": pgettext("unit", "MB"),
        "GB": pgettext("unit", "GB"),
        "TB": pgettext("unit", "TB"),
    }


def _gallery_labels() -> dict[str, str]:
    """Words the gallery's script shows, in the guest's language."""
    return {
        "closed": _("The gallery is closed. Thank you for coming!"),
        "empty": _("The first photos appear here in a moment."),
    }


def _gallery_json(snapshot: GallerySnapshot) -> dict[str, object]:
    return {
        "shared_until": snapshot.shared_until.isoformat(),
        "refresh_seconds": GALLERY_REFRESH_SECONDS,
        "slots": [
            {
                "slot_id": slot.slot_id,
                "display_name": slot.display_name,
                "results": [
                    {
                        "job_id": result.job_id,
                        "finished_at": result.finished_at.isoformat(),
                        "thumbnail_url": f"/gallery/thumbnails/{result.job_id}",
                        "result_url": f"/public/results/{result.job_id}",
                    }
                    for result in slot.results
                ],
            }
            for slot in snapshot.slots
        ],
    }


def _not_shared() -> JsonResponse:
    return json_response({"status": "error", "failure_reason": "gallery_not_shared"}, status=403)


def _too_many(response: HttpResponse, error: RateLimited) -> HttpResponse:
    response["Retry-After"] = str(error.retry_after)
    return response
