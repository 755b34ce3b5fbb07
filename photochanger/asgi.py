"""ASGI entry point: HTTP through Django, WebSocket (the live stats feed) through channels."""

from __future__ import annotations

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
# What django.core.asgi.get_asgi_application does, with our handler; everything below imports
# models.
django.setup(set_prefix=False)


class DjangoHTTP(ASGIHandler):
    """Django's ASGI handler, sending response bodies in 1 MiB messages instead of 64 KiB
    ones: a 10 MB photo in 10 messages, not 160, each a trip through the server."""

    chunk_size = 1024 * 1024


django_http = DjangoHTTP()

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
