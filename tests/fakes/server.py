"""What every fake provider server shares: a real HTTP server on loopback in a background
thread, a log of requests, and counting clients that hang up while a request is held (which is
how tests prove that our drivers really cancel a call)."""

from __future__ import annotations

import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

_CHECK_SECONDS = 0.05


class FakeServer:
    """Start/stop it, or use it as a context manager; subclasses name their handler class."""

    handler_class: type[FakeHandler]

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self.base_url = ""
        self.requests: list = []
        self.disconnects = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler_class)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # releases handlers that hold a request
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: object) -> None:
        with self._lock:
            self.requests.append(request)

    def _count_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def fake(self) -> FakeServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def wait(self, seconds: float) -> bool:
        """Hold the request for ``seconds``; False when the client hung up (or the fake stops)."""
        until = time.monotonic() + seconds
        while not self.fake._stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return True
            if self._client_gone(timeout=min(left, _CHECK_SECONDS)):
                self.fake._count_disconnect()
                self.close_connection = True
                return False
        self.close_connection = True
        return False

    def _client_gone(self, *, timeout: float) -> bool:
        connection: socket.socket = self.connection
        readable, _, _ = select.select([connection], [], [], timeout)
        if not readable:
            return False
        try:
            # Readable with nothing to read: the client closed its end.
            if connection.recv(1, socket.MSG_PEEK) == b"":
                return True
        except OSError:
            return True
        time.sleep(timeout)  # a pipelined request waits its turn; do not spin on it
        return False


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
