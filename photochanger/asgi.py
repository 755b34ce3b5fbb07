"""ASGI entry point: HTTP through Django, WebSocket (the live stats feed) through channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
# Sets Django up; everything below imports models.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from stats.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The admin's CSS and JS, served by the app itself so a fresh install needs no proxy.
        "http": ASGIStaticFilesHandler(django_http),
        # The stats page's live feed, for signed-in staff on a page of this same site.
        "websocket": websocket_application(),
    }
)
