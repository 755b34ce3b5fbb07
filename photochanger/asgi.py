"""ASGI entry point: HTTP through Django, WebSocket through channels.

Booths and guests' downloads go through a lean Django handler. Under ASGI, every classic Django
middleware runs its request and response hooks in a thread hop (about a dozen hops per request
for the default stack); a booth needs none of them: no session, cookie, CSRF, login or
translation. Pages and the staff API keep the full stack.

Both handlers take the request body as the file our server already spooled it to (see
photochanger.server) instead of copying it from body messages.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import BinaryIO

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "photochanger.settings")
django.setup(set_prefix=False)

# Imported after Django is set up.
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.http import HttpResponse  # noqa: E402

from photochanger.errors import MethodNotAllowed  # noqa: E402
from photochanger.responses import error_response  # noqa: E402
from stats.routing import websocket_application  # noqa: E402

# The guest page (/r/) has no form, login or cookie to look after: it sets its own headers.
MACHINE_PATHS = ("/api/ingest/", "/public/", "/healthz", "/r/")
# Set by our server (photochanger.server): the file the request body was spooled to.
BODY_FILE_EXTENSION = "photochanger.body_file"
_server_body_file: ContextVar[BinaryIO | None] = ContextVar("server_body_file", default=None)


class SiteHTTPHandler(ASGIHandler):
    """Django's ASGI handler, taking the body file from the server when it offers one."""

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        offered = scope.get("extensions", {}).get(BODY_FILE_EXTENSION)
        token = _server_body_file.set(offered["file"] if offered else None)
        try:
            await self.run(scope, receive, send)
        finally:
            _server_body_file.reset(token)

    async def run(self, scope: dict, receive: object, send: object) -> None:
        await super().__call__(scope, receive, send)

    def create_request(self, scope: dict, body_file: BinaryIO) -> tuple[object, object]:
        request, error_response = super().create_request(scope, body_file)
        if request is not None:
            # The seekable body, for checks that look at its framing (ingest.upload).
            request.body_file = body_file
        return request, error_response

    async def read_body(self, receive: object) -> BinaryIO:
        body_file = _server_body_file.get()
        if body_file is None:
            return await super().read_body(receive)
        message = await receive()  # the server's single, empty body message
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        body_file.seek(0)
        return body_file


class MachineHTTPHandler(SiteHTTPHandler):
    """Django's ASGI handler with no middleware and no per-request thread."""

    # Response bodies go to the server in 1 MiB messages rather than 64 KiB ones: a 1 MB photo
    # in one message (see also media.selectors.CHUNK_BYTES and server.SEND_LIMIT_BYTES).
    chunk_size = 1024 * 1024

    def load_middleware(self, is_async: bool = False) -> None:
        # What BaseHandler builds from an empty MIDDLEWARE list.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def run_get_response(self, request: object) -> HttpResponse:
        response = await super().run_get_response(request)
        if response.status_code == 405 and response.get("Content-Type", "").startswith("text/"):
            # django-ninja's own answer for a method no operation lists: the documented JSON.
            allowed = response.get("Allow", "")
            response = error_response(MethodNotAllowed("this address takes " + (allowed or "POST")))
            response["Allow"] = allowed
        return response

    async def run(self, scope: dict, receive: object, send: object) -> None:
        # Django would open a thread-sensitive context, which starts a new thread for each
        # request; nothing here needs one (database work has its own threads).
        await self.handle(scope, receive, send)


site_http = SiteHTTPHandler()
machine_http = MachineHTTPHandler()


async def http(scope: dict, receive: object, send: object) -> None:
    handler = machine_http if scope["path"].startswith(MACHINE_PATHS) else site_http
    await handler(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # The admin's CSS and JS, served by the app itself so a fresh install needs no proxy.
        "http": ASGIStaticFilesHandler(http),
        # The stats page's live feed, for signed-in staff on a page of this same site.
        "websocket": websocket_application(),
    }
)
