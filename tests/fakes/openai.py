"""A fake OpenAI images API: a real HTTP server on loopback that speaks ``/v1/images/edits``.

It runs in a thread of the test process, so tests can script its answers and read what it received,
while the code under test (in this process or in a server subprocess) reaches it over TCP like the
real thing. Behaviours are queued with ``script``; each valid edit request takes the next one, and
an empty queue answers with an image. Requests OpenAI itself would refuse (wrong path, no bearer
key, not multipart, no prompt or image, a value outside the documented ones) get OpenAI's error
without taking a behaviour, so a driver bug shows up as that error.

The multipart body is parsed with the standard library's ``email`` package: it keeps binary parts
byte for byte, and the fake needs no dependency the project does not have.

Client disconnects are counted while the fake holds a request (``hang``, ``delay``): that is how
tests prove a cancelled call closes its connection.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import NamedTuple

import pytest
from PIL import Image

from tests.fakes.server import FakeHandler, FakeServer

EDITS_PATH = "/v1/images/edits"
_POLL_SECONDS = 0.05
# The values OpenAI documents for the edits endpoint; anything else is its 400 invalid_value.
_ALLOWED_VALUES = {
    "size": ("auto", "1024x1024", "1536x1024", "1024x1536"),
    "output_format": ("png", "jpeg", "webp"),
    "quality": ("auto", "low", "medium", "high"),
}


class RecordedFile(NamedTuple):
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lowercase names
    fields: dict[str, str]  # the form's text parts
    files: list[RecordedFile]  # the form's file parts, in the order sent
    received_at: float  # time.monotonic()


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


# A behaviour answers one request through the handler; the fake gives it the means to wait.
Behaviour = Callable[["_Handler"], None]


class FakeOpenAI(FakeServer):
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
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type") or ""
        fields, files = _form_parts(content_type, body)
        self.fake._record(
            RecordedRequest(
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                fields=fields,
                files=files,
                received_at=time.monotonic(),
            )
        )
        refusal = self._refusal(content_type, fields, files)
        if refusal is not None:
            self.send(refusal)
        else:
            self.fake._next_behaviour()(self)

    def do_GET(self) -> None:
        self.send(_openai_error(405, None, f"Invalid method for URL (GET {self.path})"))

    def _refusal(
        self, content_type: str, fields: dict[str, str], files: list[RecordedFile]
    ) -> _Answer | None:
        """OpenAI's own answer to a request it would not process, or None."""
        if self.path != EDITS_PATH:
            return _openai_error(404, None, f"Invalid URL (POST {self.path})")
        authorization = self.headers.get("Authorization") or ""
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return _openai_error(401, None, "You didn't provide an API key.")
        if not content_type.startswith("multipart/form-data"):
            return _openai_error(400, None, "The request must be multipart/form-data.")
        if not fields.get("prompt"):
            return _openai_error(
                400,
                "missing_required_parameter",
                "Missing required parameter: 'prompt'.",
                param="prompt",
            )
        if not any(file.field in ("image", "image[]") for file in files):
            return _openai_error(
                400,
                "missing_required_parameter",
                "Missing required parameter: 'image'.",
                param="image",
            )
        for name, allowed in _ALLOWED_VALUES.items():
            if name in fields and fields[name] not in allowed:
                return _openai_error(
                    400,
                    "invalid_value",
                    f"Invalid value: '{fields[name]}'. Supported values are: {allowed}.",
                    param=name,
                )
        return None

    def send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(answer.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.fake._count_disconnect()
            self.close_connection = True


FakeOpenAI.handler_class = _Handler


def _form_parts(content_type: str, body: bytes) -> tuple[dict[str, str], list[RecordedFile]]:
    """The text fields and file parts of a multipart/form-data body (empty when it is not one)."""
    if not content_type.startswith("multipart/"):
        return {}, []
    # A MIME message is headers, a blank line, then the body: give the parser the part it lacks.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return {}, []
    fields: dict[str, str] = {}
    files: list[RecordedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", errors="replace")
        else:
            files.append(RecordedFile(name, filename, part.get_content_type(), data))
    return fields, files


def _openai_error(
    status: int,
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    retry_after: float | None = None,
) -> _Answer:
    if status == 429:
        kind = "insufficient_quota" if code == "insufficient_quota" else "requests"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
    return _Answer(status, json.dumps(body).encode(), headers)


def _image_bytes(format: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 160, 220)).save(buffer, format)
    return buffer.getvalue()


def answer_image(format: str = "PNG", size: tuple[int, int] = (64, 48)) -> Behaviour:
    """200 with a real image of ``format`` (Pillow's name) in ``data[0].b64_json``."""
    body = {
        "created": int(time.time()),
        "background": "opaque",
        "data": [{"b64_json": base64.b64encode(_image_bytes(format, size)).decode()}],
        "output_format": format.lower(),
        "quality": "medium",
        "size": f"{size[0]}x{size[1]}",
        "usage": {
            "input_tokens": 323,
            "input_tokens_details": {"image_tokens": 194, "text_tokens": 129},
            "output_tokens": 1056,
            "total_tokens": 1379,
        },
    }
    answer = _Answer(200, json.dumps(body).encode())
    return lambda handler: handler.send(answer)


def moderation_blocked() -> Behaviour:
    """The 400 OpenAI sends when its safety system refuses the photo or the prompt."""
    answer = _openai_error(
        400,
        "moderation_blocked",
        "Your request was rejected by the safety system. It may contain content that is not "
        "allowed.",
    )
    return lambda handler: handler.send(answer)


def error(status: int, code: str, message: str, retry_after: float | None = None) -> Behaviour:
    """OpenAI's error shape with ``code``; ``retry_after`` adds a ``retry-after`` header (s)."""
    answer = _openai_error(status, code, message, retry_after=retry_after)
    return lambda handler: handler.send(answer)


def answer_json(status: int, body: dict | str) -> Behaviour:
    """Any status with ``body`` as JSON, or a raw string sent as it is (for malformed answers)."""
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return lambda handler: handler.send(_Answer(status, raw))


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


@pytest.fixture
def fake_openai(provider_ports: dict[str, int]) -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI where the server sends OpenAI calls (OPENAI_BASE_URL), stopped
    after the test."""
    with FakeOpenAI(port=provider_ports["openai"]) as fake:
        yield fake
