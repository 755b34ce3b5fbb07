"""A fake Gemini API: a real HTTP server on loopback that speaks ``generateContent``'s wire format.

It runs in a thread of the test process, so tests can script its answers and read what it received,
while the code under test (in this process or in a server subprocess) reaches it over TCP like the
real thing. Behaviours are queued with ``script``; each request to ``generateContent`` takes the
next one, and an empty queue answers with an image.

Client disconnects are counted while the fake holds a request (``hang``, ``delay``, ``trickle``):
that is how tests prove a cancelled call closes its connection.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from PIL import Image

from tests.fakes.server import FakeHandler, FakeServer

_GENERATE_PATH = re.compile(r"/v1beta/models/(?P<model>[^/:]+):generateContent")
_POLL_SECONDS = 0.05
_TRICKLE_PIECES = 20
_MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lowercase names
    json: object  # the parsed body, or None when it was not JSON
    received_at: float  # time.monotonic()


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


# A behaviour answers one request through the handler; the fake gives it the means to wait.
Behaviour = Callable[["_Handler"], None]


class FakeGemini(FakeServer):
    """The fake server; ``start``/``stop`` it or use it as a context manager."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.requests: list[RecordedRequest] = []
        self._script: deque[Behaviour] = deque()

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, one per request; when the queue is empty: ``answer_image()``."""
        with self._lock:
            self._script.extend(behaviours)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else answer_image()


class _Handler(FakeHandler):
    @property
    def fake(self) -> FakeGemini:
        return self.server.fake  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        self.fake._record(
            RecordedRequest(
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                json=parsed,
                received_at=time.monotonic(),
            )
        )
        if not _GENERATE_PATH.fullmatch(self.path):
            self.send(_google_error(404, "NOT_FOUND", f"no such method: {self.path}"))
        elif not self.headers.get("x-goog-api-key"):
            self.send(_google_error(403, "PERMISSION_DENIED", "unregistered callers"))
        elif parsed is None:
            self.send(_google_error(400, "INVALID_ARGUMENT", "invalid JSON payload"))
        else:
            self.fake._next_behaviour()(self)

    def do_GET(self) -> None:
        self.send(_google_error(405, "METHOD_NOT_ALLOWED", "use POST"))

    def send(self, answer: _Answer, *, pieces: int = 1, seconds: float = 0.0) -> None:
        """Send ``answer``, split into ``pieces`` spread over ``seconds``."""
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        size = -(-len(answer.body) // pieces)
        try:
            for index in range(pieces):
                if index and not self.wait(seconds / pieces):
                    return
                self.wfile.write(answer.body[index * size : (index + 1) * size])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.fake._count_disconnect()
            self.close_connection = True


FakeGemini.handler_class = _Handler


def _google_error(
    status: int, status_name: str, message: str, details: list | None = None
) -> _Answer:
    error: dict = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    return _Answer(status, json.dumps({"error": error}).encode())


def _image_bytes(format: str, size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format)
    return buffer.getvalue()


def _image_part(format: str, size: tuple[int, int], color: tuple[int, int, int]) -> dict:
    data = base64.b64encode(_image_bytes(format, size, color)).decode()
    return {"inlineData": {"mimeType": _MIME_TYPES[format], "data": data}}


def _candidate_answer(parts: list[dict], finish_reason: str = "STOP") -> _Answer:
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1290, "totalTokenCount": 2580},
        "modelVersion": "fake-gemini",
    }
    return _Answer(200, json.dumps(body).encode())


def _image_answer(format: str, size: tuple[int, int], thought_first: bool) -> _Answer:
    parts = []
    if thought_first:
        # A draft of another size and colour, so a test can tell which one the driver kept.
        parts.append({**_image_part(format, (16, 16), (0, 0, 255)), "thought": True})
    parts.append(_image_part(format, size, (220, 120, 40)))
    return _candidate_answer(parts)


def answer_image(
    format: str = "JPEG", size: tuple[int, int] = (64, 48), thought_first: bool = False
) -> Behaviour:
    """200 with a real image of ``format`` in ``inlineData``; ``thought_first`` puts a 16x16
    image marked ``"thought": true`` before it."""
    answer = _image_answer(format, size, thought_first)
    return lambda handler: handler.send(answer)


def answer_json(status: int, body: dict | str) -> Behaviour:
    """Any status with ``body`` as JSON, or a raw string sent as it is (for malformed answers)."""
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return lambda handler: handler.send(_Answer(status, raw))


def error(
    status: int,
    status_name: str,
    message: str,
    retry_delay: str | None = None,
    reason: str | None = None,
) -> Behaviour:
    """Google's error shape; ``retry_delay`` adds a RetryInfo detail (such as "2s"), ``reason``
    an ErrorInfo detail (such as "API_KEY_INVALID")."""
    details = []
    if reason is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    answer = _google_error(status, status_name, message, details)
    return lambda handler: handler.send(answer)


def block(reason: str = "SAFETY") -> Behaviour:
    """200 with ``promptFeedback.blockReason`` and no candidates."""
    answer = _Answer(200, json.dumps({"promptFeedback": {"blockReason": reason}}).encode())
    return lambda handler: handler.send(answer)


def finish(reason: str = "IMAGE_SAFETY") -> Behaviour:
    """200 with one candidate that finished for ``reason`` and holds no image."""
    answer = _candidate_answer([], finish_reason=reason)
    return lambda handler: handler.send(answer)


def text_only(text: str = "I cannot do that") -> Behaviour:
    """200 with only a text part."""
    answer = _candidate_answer([{"text": text}])
    return lambda handler: handler.send(answer)


def hang() -> Behaviour:
    """Take the request and never answer, until the client disconnects or the fake stops."""
    return lambda handler: handler.wait(math.inf)


def delay(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait ``seconds``, then behave like ``then`` (default ``answer_image()``)."""
    after = then if then is not None else answer_image()

    def behave(handler: _Handler) -> None:
        if handler.wait(seconds):
            after(handler)

    return behave


def trickle(seconds: float) -> Behaviour:
    """A valid image answer sent in small pieces spread over ``seconds``."""
    answer = _image_answer("JPEG", (64, 48), thought_first=False)
    return lambda handler: handler.send(answer, pieces=_TRICKLE_PIECES, seconds=seconds)


@pytest.fixture
def fake_gemini(provider_ports: dict[str, int]) -> Iterator[FakeGemini]:
    """A started FakeGemini where the server sends Gemini calls (GEMINI_BASE_URL), stopped
    after the test."""
    with FakeGemini(port=provider_ports["gemini"]) as fake:
        yield fake
