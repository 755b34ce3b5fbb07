"""Writes of the stats app: sharing the event gallery, and counting the public's requests."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from photochanger.errors import InvalidRequest, RateLimited
from stats.models import GallerySharing

GALLERY_MAX_SHARE_MINUTES = 24 * 60
GALLERY_SNAPSHOT_KEY = "stats:gallery:snapshot"
# Thumbnails are many small requests per page; the page and its data are a few per minute.
_IMAGE_ALLOWANCE_FACTOR = 10


def gallery_share(*, minutes: int, user: object, now: datetime | None = None) -> GallerySharing:
    """Make the public gallery answer for ``minutes`` from now (1 minute to a day); sharing
    again replaces the end time."""
    if not 1 <= minutes <= GALLERY_MAX_SHARE_MINUTES:
        raise InvalidRequest(f"share for 1 to {GALLERY_MAX_SHARE_MINUTES} minutes")
    shared_until = (now or timezone.now()) + timedelta(minutes=minutes)
    sharing, _ = GallerySharing.objects.update_or_create(
        pk=1, defaults={"shared_until": shared_until, "shared_by": user}
    )
    cache.delete(GALLERY_SNAPSHOT_KEY)
    return sharing


def gallery_stop(*, user: object) -> None:
    """Stop sharing at once. The snapshot other worker processes cached for a few seconds
    runs out by itself (with Redis as the cache, it is gone for every process now)."""
    GallerySharing.objects.update_or_create(
        pk=1, defaults={"shared_until": None, "shared_by": user}
    )
    cache.delete(GALLERY_SNAPSHOT_KEY)


def gallery_request_admit(*, client: str, images: bool = False) -> None:
    """Count one public gallery request from ``client`` (its address) in the current minute;
    RateLimited once it is past GALLERY_REQUESTS_PER_MINUTE (ten times that for thumbnails),
    until the minute ends."""
    allowance = settings.GALLERY_REQUESTS_PER_MINUTE
    if images:
        allowance *= _IMAGE_ALLOWANCE_FACTOR
    now = time.time()
    kind = "images" if images else "pages"
    key = f"stats:gallery:requests:{kind}:{client}:{int(now // 60)}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # culled or expired between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    if count > allowance:
        raise RateLimited(
            "too many gallery requests from this device; it refreshes by itself",
            retry_after=max(1, 60 - int(now % 60)),
        )
