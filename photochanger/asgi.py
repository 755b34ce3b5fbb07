"""ASGI entry point: HTTP through Django, WebSocket through channels.

Booths and guests' downloads go through a lean Django handler. Under ASGI, every classic Django
middleware runs its request and response hooks in a thread hop (about a dozen hops per request
for the default stack); a booth needs none of them: no session, cookie, CSRF, login or
translation. Pages and the staff API keep the full stack.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
site_http = get_asgi_application()

# Imported after Django is set up.
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402

MACHINE_PATHS = ("/api/ingest/", "/public/", "/healthz")


class MachineHTTPHandler(ASGIHandler):
    """Django's ASGI handler with no middleware and no per-request thread."""

    # Response bodies go to the server in 256 KiB messages rather than 64 KiB ones.
    chunk_size = 256 * 1024

    def load_middleware(self, is_async: bool = False) -> None:
        # What BaseHandler builds from an empty MIDDLEWARE list.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        # Django would open a thread-sensitive context, which starts a new thread for each
        # request; nothing here needs one (database work has its own threads).
        await self.handle(scope, receive, send)


machine_http = MachineHTTPHandler()


async def http(scope: dict, receive: object, send: object) -> None:
    handler = machine_http if scope["path"].startswith(MACHINE_PATHS) else site_http
    await handler(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # The admin's CSS and JS, served by the app itself so a fresh install needs no proxy.
        "http": ASGIStaticFilesHandler(http),
    }
)
