"""The HTTP server: daphne, with request handling tuned for photo uploads.

Five changes to daphne as shipped, each measured (see bench/ingest.py and the README):

* Twisted parses every multipart body with the stdlib ``email`` package before the application
  runs, a result daphne never uses: ~73% of the time of a 10 MB upload. Requests are built with
  Twisted's documented ``parsePOSTFormSubmission=False`` flag instead.
* Twisted spools each body to a temporary file; daphne would read it back and queue it whole in
  memory for the application, which copies it to a spool file of its own. Instead the server
  hands that file over (the ``photochanger.body_file`` ASGI extension, read by
  ``photochanger.asgi``): no copy, and a 10 MB photo is never held in memory.
* A body larger than any upload we accept is refused with 413 from its Content-Length, before any
  of it is read and without a ``100 Continue``; a chunked body is cut off once it passes the cap.
  Twisted would otherwise spool the whole body to disk before the application could say no.
* Responses are flow-controlled: daphne accepts every body message at once, so a 10 MB result
  would sit whole in Twisted's send buffer; here the application waits while the client is
  behind, through Twisted's push-producer interface.

Daphne offers no option for the request class, so the server swaps in its own HTTP factory.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from typing import BinaryIO

import daphne.server  # installs the asyncio reactor; must come before other Twisted imports
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import reactor
from twisted.internet.interfaces import IPushProducer
from twisted.web import http
from zope.interface import implementer

from photochanger.asgi import BODY_FILE_EXTENSION
from slots.models import ABSOLUTE_SIZE_LIMIT_MB

logger = logging.getLogger(__name__)

# The photo may be up to the absolute cap; the rest of the form (booth metadata, part headers)
# is small. Anything beyond this cannot be an acceptable upload.
MAX_REQUEST_BODY_BYTES = ABSOLUTE_SIZE_LIMIT_MB * 1024 * 1024 + 256 * 1024
REQUEST_BUFFER_BYTES = 1024 * 1024
# How much of a response may wait in user space for the client before the application pauses.
RESPONSE_BUFFER_BYTES = 512 * 1024
# Twisted hands the socket at most 128 KiB per write-ready event, so a 1 MB answer took eight
# turns of the event loop; the kernel takes what its buffer holds in one call instead.
SEND_LIMIT_BYTES = 8 * 1024 * 1024
# After a refusal the client may still be sending; keeping the socket open this long (without
# reading) lets it read our answer before the connection is reset.
REFUSAL_LINGER_SECONDS = 2.0


def _json_refusal(status: str, failure_reason: str, details: str) -> bytes:
    """A whole HTTP response in the documented JSON shape, written before closing."""
    body = json.dumps(
        {"status": "error", "failure_reason": failure_reason, "details": details}
    ).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


class UploadChannel(http.HTTPChannel):
    """An HTTP/1.1 connection that can refuse an oversized body without reading it."""

    refused = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.bufferSize = RESPONSE_BUFFER_BYTES
        self.transport.SEND_LIMIT = SEND_LIMIT_BYTES

    def allHeadersReceived(self) -> None:
        # Twisted sends "100 Continue" at the end of this method; refuse before it does.
        if self.length is not None and self.length > MAX_REQUEST_BODY_BYTES:
            self.refuse_too_large()
            return
        super().allHeadersReceived()

    def refuse_too_large(self) -> None:
        if self.refused:
            return
        self.refused = True
        logger.info("refused an upload over %d bytes", MAX_REQUEST_BODY_BYTES)
        self.transport.pauseProducing()
        self.transport.write(
            _json_refusal(
                "413 Payload Too Large",
                "payload_too_large",
                f"the request body is over the {ABSOLUTE_SIZE_LIMIT_MB} MiB limit",
            )
        )
        reactor.callLater(REFUSAL_LINGER_SECONDS, self.transport.abortConnection)

    def _respondToBadRequestAndDisconnect(self) -> None:
        # Twisted's answer to a request it cannot parse (bad chunk size, conflicting or
        # negative Content-Length) is an empty 400; give the documented JSON instead.
        self.transport.write(
            _json_refusal("400 Bad Request", "invalid_request", "the HTTP request is malformed")
        )
        self.loseConnection()

    def lineReceived(self, line: bytes) -> None:
        if not self.refused:
            super().lineReceived(line)

    def rawDataReceived(self, data: bytes) -> None:
        if not self.refused:
            super().rawDataReceived(data)


@implementer(IPushProducer)
class ResponseFlow:
    """Open while the client keeps up with the response; Twisted pauses and resumes it."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()

    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()  # the connection is gone: never keep the application waiting


class UploadRequest(WebRequest):
    """daphne's request without Twisted's form parsing, counting the body as it arrives and
    pacing the response to the client."""

    def __init__(self, channel: http.HTTPChannel, *args: object, **kwargs: object) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(channel, *args, **kwargs)
        self.body_bytes = 0
        self.body_file: BinaryIO | None = None
        self.flow = ResponseFlow()

    def connectionLost(self, reason: object) -> None:
        super().connectionLost(reason)
        self.close_body_file()

    def finish(self) -> None:
        super().finish()
        self.close_body_file()

    def close_body_file(self) -> None:
        # The application closes it when done; this covers requests it never finished.
        if self.body_file is not None:
            self.body_file.close()

    def handle_reply(self, message: dict) -> None:
        if self.channel is not None and not self.finished:
            last_body = message["type"] == "http.response.body" and not message.get("more_body")
            if message["type"] == "http.response.start" and self.producer is None:
                self.registerProducer(self.flow, True)
            elif last_body and self.producer is not None:
                # Twisted insists that the producer is gone before the request finishes.
                self.unregisterProducer()
        super().handle_reply(message)

    def handleContentChunk(self, data: bytes) -> None:
        self.body_bytes += len(data)
        if self.body_bytes > MAX_REQUEST_BODY_BYTES:
            self.channel.refuse_too_large()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # A chunked body has no Content-Length; now that it is whole, tell the application its
        # size, as Django's form parser needs one.
        if not self.requestHeaders.hasHeader(b"content-length"):
            self.requestHeaders.setRawHeaders(b"content-length", [str(self.body_bytes).encode()])
            self.requestHeaders.removeHeader(b"transfer-encoding")
        super().requestReceived(command, path, version)


class FlowControlledServer(daphne.server.Server):
    def create_application(self, protocol: object, scope: dict) -> object:
        if scope["type"] == "http" and isinstance(protocol, UploadRequest):
            # daphne then reads the now-empty content: one empty body message.
            body_file, protocol.content = protocol.content, io.BytesIO()
            protocol.body_file = body_file
            scope.setdefault("extensions", {})[BODY_FILE_EXTENSION] = {"file": body_file}
        return super().create_application(protocol, scope)

    async def handle_reply(self, protocol: object, message: dict) -> None:
        await super().handle_reply(protocol, message)
        flow = getattr(protocol, "flow", None)
        if flow is not None and message.get("more_body"):
            await flow.writable.wait()


class UploadHTTPFactory(HTTPFactory):
    protocol = UploadChannel

    def buildProtocol(self, addr: object) -> http.HTTPChannel:
        channel = super().buildProtocol(addr)
        channel.requestFactory = UploadRequest
        return channel


def serve(
    *,
    application: object,
    host: str,
    port: int,
    on_ready: Callable[[list[tuple[str, int]]], None],
    proxy_headers: bool = False,
    verbosity: int = 1,
) -> None:
    """Run the ASGI application on host:port until the process is stopped.

    ``on_ready`` gets the addresses actually listened on (port 0 picks a free port).
    """
    daphne.server.HTTPFactory = UploadHTTPFactory
    interface = host.replace(":", "\\:")  # Twisted endpoint strings escape IPv6 colons
    endpoint = f"tcp:port={port}:interface={interface}"
    server = FlowControlledServer(
        application=application,
        endpoints=[endpoint],
        request_buffer_size=REQUEST_BUFFER_BYTES,
        verbosity=verbosity,
        server_name="photochanger",
        # Only behind a trusted proxy: anyone else could claim any address.
        proxy_forwarded_address_header="X-Forwarded-For" if proxy_headers else None,
        proxy_forwarded_port_header="X-Forwarded-Port" if proxy_headers else None,
        proxy_forwarded_proto_header="X-Forwarded-Proto" if proxy_headers else None,
    )
    server.ready_callable = lambda: on_ready(server.listening_addresses)
    server.run()
