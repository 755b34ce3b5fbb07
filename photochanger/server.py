"""The HTTP server: daphne as shipped, with three changes a booth notices.

* Twisted parses every multipart body with the stdlib ``email`` package before the application
  runs, a result daphne never uses: ~73% of the time of a 10 MB upload (SPEC §8: 265 ms against
  35 ms). Requests are built with Twisted's documented ``parsePOSTFormSubmission=False``.
* A body larger than any upload we accept is refused with 413 from its Content-Length, before any
  of it is read and without a ``100 Continue``; a chunked body is cut off once it passes the cap,
  and that request never runs. Twisted would otherwise spool the whole body to disk first: on a
  booth laptop's small disk, a few such bodies are a full disk.
* A response is paced to its client through Twisted's producer interface: daphne takes every
  body message at once, so each slow booth's 10 MB answer sat whole in memory (bench/ingest.py,
  30 booths sending 10 MB: peak RSS 423 MB without, 170 MB with).

All live on public hooks: daphne's ``ready_callable`` runs after daphne has built its HTTP factory
and before the reactor accepts a connection; there we give the factory our channel class (Twisted's
``Factory.protocol``). daphne then sets the channel's ``requestFactory`` to its own request class,
which our channel wraps; daphne's ``Server.handle_reply`` is where the application waits.
``tests/test_server_hooks.py`` fails loudly if any of this moves upstream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from http import HTTPStatus

import daphne.server  # installs the asyncio reactor; must come before other Twisted imports
from daphne.http_protocol import WebRequest
from django.utils import timezone
from twisted.internet import reactor
from twisted.internet.interfaces import IPushProducer
from twisted.web import http
from zope.interface import implementer

from photochanger.limits import MAX_REQUEST_BODY_BYTES, UPLOAD_CAP_MB
from photochanger.request_log import BoothRequestEntry, request_log

logger = logging.getLogger(__name__)
_REASON_PHRASES = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}

# After a refusal the client may still be sending; keeping the socket open this long (without
# reading) lets it read our answer before the connection is reset.
REFUSAL_LINGER_SECONDS = 1.0
# daphne hands the body to the application in messages of this size (its default is 8 KiB:
# 1,300 messages for a 10 MB photo).
REQUEST_BUFFER_BYTES = 256 * 1024


def _too_large_answer() -> bytes:
    body = json.dumps(
        {
            "status": "error",
            "failure_reason": "payload_too_large",
            "details": f"the request body is over the {UPLOAD_CAP_MB} MiB limit",
        }
    ).encode()
    head = (
        "HTTP/1.1 413 Payload Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


@implementer(IPushProducer)
class ResponsePace:
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


class CappedRequest(WebRequest):
    """daphne's request, without Twisted's form parsing, counting a chunked body as it comes,
    and pacing its response to the client."""

    def __init__(self, channel: http.HTTPChannel, *args: object, **kwargs: object) -> None:
        super().__init__(channel, *args, parsePOSTFormSubmission=False, **kwargs)
        self.body_bytes = 0
        self.pace = ResponsePace()

    def handle_reply(self, message: dict) -> None:
        # Twisted tells a registered producer when its send buffer fills and drains.
        if message["type"] == "http.response.start" and self.producer is None:
            self.registerProducer(self.pace, True)
        elif (
            message["type"] == "http.response.body"
            and not message.get("more_body")
            and self.producer is not None
        ):
            self.unregisterProducer()  # Twisted wants it gone before the request finishes
        super().handle_reply(message)

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        # Twisted's table of reason phrases stops short of 422 and 429 ("Unknown Status");
        # the standard library's is complete.
        if message is None and code not in http.RESPONSES:
            message = _REASON_PHRASES.get(code)
        super().setResponseCode(code, message)

    def handleContentChunk(self, data: bytes) -> None:
        self.body_bytes += len(data)
        if self.body_bytes > MAX_REQUEST_BODY_BYTES:
            self.channel.refuse_too_large()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.channel.refused:
            # The rest of an oversized chunked body can arrive in the read that crossed the
            # cap; the request it ends must not run.
            return
        if not self.requestHeaders.hasHeader(b"content-length"):
            # A chunked body is whole now; Django's form parser reads no more than its length.
            self.requestHeaders.setRawHeaders(b"content-length", [str(self.body_bytes).encode()])
            self.requestHeaders.removeHeader(b"transfer-encoding")
        super().requestReceived(command, path, version)


class CappedChannel(http.HTTPChannel):
    """An HTTP/1.1 connection that refuses a body over the cap without reading it."""

    refused = False

    @property
    def requestFactory(self) -> Callable[..., http.Request]:
        return CappedRequest

    @requestFactory.setter
    def requestFactory(self, value: object) -> None:
        # daphne sets its WebRequest here for every connection; CappedRequest is one.
        if value is not WebRequest:
            raise TypeError(f"expected daphne's WebRequest, got {value!r}")

    def allHeadersReceived(self) -> None:
        # Twisted sends "100 Continue" in this method; a refusal must come before it does.
        if self.length is not None and self.length > MAX_REQUEST_BODY_BYTES:
            self.refuse_too_large()
            return
        super().allHeadersReceived()

    def dataReceived(self, data: bytes) -> None:
        if not self.refused:
            super().dataReceived(data)

    def refuse_too_large(self) -> None:
        if self.refused:
            return
        self.refused = True
        logger.info("refused a request body over %d bytes", MAX_REQUEST_BODY_BYTES)
        request_log.record(self._too_large_entry())
        self.transport.pauseProducing()
        self.transport.write(_too_large_answer())
        reactor.callLater(REFUSAL_LINGER_SECONDS, self.transport.abortConnection)

    def _too_large_entry(self) -> BoothRequestEntry:
        # The request line is not the application's yet: the slot sent is unknown here.
        headers = self.requests[-1].requestHeaders if self.requests else None
        agent = (headers.getRawHeaders(b"user-agent") or [b""])[0] if headers else b""
        return BoothRequestEntry(
            at=timezone.now(),
            client=getattr(self.transport.getPeer(), "host", "unknown"),
            user_agent=agent.decode("latin-1"),
            slot_sent="",
            status=413,
            reason="payload_too_large",
            bytes=self.length,
            job_id=None,
        )


class PacedServer(daphne.server.Server):
    """daphne, with the application waiting while a client is behind on its response.

    daphne takes every body message at once, so a 10 MB answer to a slow booth sat whole in
    Twisted's send buffer: with 30 booths that was most of the server's memory
    (bench/ingest.py, 30 x 10 MB).
    """

    async def handle_reply(self, protocol: object, message: dict) -> None:
        await super().handle_reply(protocol, message)
        if message.get("more_body") and isinstance(protocol, CappedRequest):
            await protocol.pace.writable.wait()


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
    interface = host.replace(":", "\\:")  # Twisted endpoint strings escape IPv6 colons

    def ready() -> None:
        # Before the reactor runs: no connection has been accepted with daphne's own channel.
        server.http_factory.protocol = CappedChannel
        on_ready(server.listening_addresses)

    server = PacedServer(
        application=application,
        endpoints=[f"tcp:port={port}:interface={interface}"],
        request_buffer_size=REQUEST_BUFFER_BYTES,
        verbosity=verbosity,
        server_name="photochanger",
        ready_callable=ready,
        # Only behind a trusted proxy: anyone else could claim any address.
        proxy_forwarded_address_header="X-Forwarded-For" if proxy_headers else None,
        proxy_forwarded_port_header="X-Forwarded-Port" if proxy_headers else None,
        proxy_forwarded_proto_header="X-Forwarded-Proto" if proxy_headers else None,
    )
    server.run()
