"""A fake Turbotext API: a real HTTP server on loopback speaking its queue-and-poll wire format.

It runs in a thread of the test process, so tests can script its answers and read what it received,
while the code under test (in this process or in a server subprocess) reaches it over TCP like the
real thing. ``POST /api_ai/{method}`` takes form fields: ``do=create_queue`` creates a queue and
``do=get_result&queueid=N`` reports on it. Each created queue follows one scripted behaviour (the
next from ``script``; ``done()`` when none is left). Finished queues name an image that the fake
serves itself under ``/results/``, as real JPEG or PNG bytes.

The fake never downloads the photo or template URLs it is given: tests may pass any string.
Client disconnects are counted while the fake holds a poll open (``never_finishes``): that is how
tests prove a cancelled call closes its connection.
"""

from __future__ import annotations

import io
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl

import pytest
from PIL import Image

from tests.fakes.server import FakeHandler, FakeServer

_API_PREFIX = "/api_ai/"
_RESULTS_PREFIX = "/results/"
_METHODS = frozenset({"generate_image2image", "mix_images", "deepfake_photo"})
_CHECK_SECONDS = 0.05
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_WHERE = frozenset({"top", "data", "image_list_relative"})


@dataclass(frozen=True)
class RecordedRequest:
    method: str  # the HTTP method
    path: str
    form: dict[str, str]  # the form fields (a repeated field keeps its last value)
    headers: dict[str, str]  # lowercase names
    received_at: float  # time.monotonic()

    @property
    def do(self) -> str:
        return self.form.get("do", "")


@dataclass(frozen=True)
class Behaviour:
    """What one queue does, from ``create_queue`` to the download of its result."""

    create_status: int = 200  # an HTTP error status answered to create_queue instead
    create_error: str = ""  # create_queue answers success false with this error
    result_error: str = ""  # get_result answers success false with this error
    error_field: str = "error"  # where the error goes: "error", "message" or "errors" (a list)
    reconnects: int = 0  # polls answered {"action": "reconnect"} before the outcome
    finishes: bool = True
    hold_seconds: float = 0.0  # how long an unfinished poll is held open before it answers
    format: str = "JPEG"
    where: str = "top"
    result_404s: int = 0  # downloads of the result answered 404 before the image


@dataclass
class FakeQueue:
    id: int
    method: str  # the Turbotext method, such as "mix_images"
    form: dict[str, str]
    behaviour: Behaviour
    polls: int = 0
    result_path: str = ""  # set when get_result first reports the queue done
    downloads: int = 0


@dataclass
class _Result:
    data: bytes
    content_type: str
    missing_for: int  # downloads still to be answered 404
    queue: FakeQueue = field(repr=False)


class FakeTurbotext(FakeServer):
    """The fake server; ``start``/``stop`` it or use it as a context manager."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.requests: list[RecordedRequest] = []
        self.queues: list[FakeQueue] = []
        self._script: deque[Behaviour] = deque()
        self._results: dict[str, _Result] = {}
        self._queue_ids = itertools.count(4001)

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, one per ``create_queue`` call; when none is left: ``done()``."""
        with self._lock:
            self._script.extend(behaviours)

    def requests_with(self, do: str) -> list[RecordedRequest]:
        """The API requests whose ``do`` field is ``do`` ("create_queue", "get_result")."""
        with self._lock:
            return [request for request in self.requests if request.do == do]

    def downloads(self) -> list[RecordedRequest]:
        """The GET requests for result images."""
        with self._lock:
            return [request for request in self.requests if request.method == "GET"]

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else done()

    def _create_queue(self, method: str, form: dict[str, str], behaviour: Behaviour) -> FakeQueue:
        with self._lock:
            queue = FakeQueue(
                id=next(self._queue_ids), method=method, form=form, behaviour=behaviour
            )
            self.queues.append(queue)
            return queue

    def _poll(self, queue_id: str) -> FakeQueue | None:
        """The queue ``queue_id``, its poll counted; None when there is no such queue."""
        with self._lock:
            queue = next((queue for queue in self.queues if str(queue.id) == queue_id), None)
            if queue is not None:
                queue.polls += 1
            return queue

    def _publish_result(self, queue: FakeQueue) -> str:
        """The path of the queue's result image, made on its first report."""
        with self._lock:
            if not queue.result_path:
                behaviour = queue.behaviour
                path = f"{_RESULTS_PREFIX}{queue.id}.{_EXTENSIONS[behaviour.format]}"
                self._results[path] = _Result(
                    data=_image_bytes(behaviour.format, queue.id),
                    content_type=_CONTENT_TYPES[behaviour.format],
                    missing_for=behaviour.result_404s,
                    queue=queue,
                )
                queue.result_path = path
            return queue.result_path

    def _take_result(self, path: str) -> _Result | None:
        """The result at ``path`` for this download, or None while it answers 404."""
        with self._lock:
            result = self._results.get(path)
            if result is None:
                return None
            result.queue.downloads += 1
            if result.missing_for > 0:
                result.missing_for -= 1
                return None
            return result

    def result_image(self, queue: FakeQueue) -> bytes:
        """The image bytes a finished queue hands out."""
        with self._lock:
            return self._results[queue.result_path].data


class _Handler(FakeHandler):
    @property
    def fake(self) -> FakeTurbotext:
        return self.server.fake  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self._record("POST", form)
        method = self.path.removeprefix(_API_PREFIX)
        if not self.path.startswith(_API_PREFIX) or method not in _METHODS:
            self.send_json(404, {"success": False, "error": "method not found"})
        elif not (self.headers.get("Authorization") or "").startswith("Bearer "):
            self.send_json(401, {"success": False, "error": "unauthorized"})
        elif form.get("do") == "create_queue":
            self._create_queue(method, form)
        elif form.get("do") == "get_result":
            self._get_result(form.get("queueid", ""))
        else:
            self.send_json(200, {"success": False, "error": "unknown do"})

    def do_GET(self) -> None:
        self._record("GET", {})
        result = self.fake._take_result(self.path)
        if result is None:
            self.send_bytes(404, b"<html><body>404 Not Found</body></html>", "text/html")
        else:
            self.send_bytes(200, result.data, result.content_type)

    def _record(self, method: str, form: dict[str, str]) -> None:
        self.fake._record(
            RecordedRequest(
                method=method,
                path=self.path,
                form=form,
                headers={name.lower(): value for name, value in self.headers.items()},
                received_at=time.monotonic(),
            )
        )

    def _create_queue(self, method: str, form: dict[str, str]) -> None:
        behaviour = self.fake._next_behaviour()
        if behaviour.create_status != 200:
            self.send_bytes(
                behaviour.create_status,
                f"<html><body>{behaviour.create_status}</body></html>".encode(),
                "text/html",
            )
        elif behaviour.create_error:
            self.send_json(200, _failure(behaviour, behaviour.create_error))
        elif method == "deepfake_photo" and form.get("face_restore") not in ("True", "False"):
            # Turbotext documents face_restore as True or False and refuses anything else.
            self.send_json(200, {"success": False, "error": "params_error"})
        else:
            queue = self.fake._create_queue(method, form, behaviour)
            self.send_json(200, {"success": True, "queueid": queue.id})

    def _get_result(self, queue_id: str) -> None:
        queue = self.fake._poll(queue_id)
        if queue is None:
            self.send_json(200, {"success": False, "error": "queue not found"})
            return
        behaviour = queue.behaviour
        if queue.polls <= behaviour.reconnects or not behaviour.finishes:
            if behaviour.hold_seconds and not self.wait(behaviour.hold_seconds):
                return
            self.send_json(200, {"action": "reconnect"})
        elif behaviour.result_error:
            self.send_json(200, _failure(behaviour, behaviour.result_error))
        else:
            self.send_json(200, self._done_answer(queue))

    def _done_answer(self, queue: FakeQueue) -> dict:
        path = self.fake._publish_result(queue)
        absolute = f"{self.fake.base_url}{path}"
        data: dict = {"queueid": queue.id, "status": "done"}
        answer: dict = {"success": True, "data": data}
        where = queue.behaviour.where
        if where == "top":
            answer["uploaded_image"] = absolute
        elif where == "data":
            data["uploaded_image"] = absolute
        else:
            data["image"] = [path]
        return answer

    def send_json(self, status: int, body: dict) -> None:
        # Turbotext's answers are JSON sent as text/html.
        self.send_bytes(status, json.dumps(body).encode(), "text/html; charset=UTF-8")

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.fake._count_disconnect()
            self.close_connection = True


FakeTurbotext.handler_class = _Handler


def _failure(behaviour: Behaviour, error: str) -> dict:
    value: object = [error] if behaviour.error_field == "errors" else error
    return {"success": False, behaviour.error_field: value}


def _image_bytes(format: str, seed: int) -> bytes:
    # A colour per queue, so a test can tell whose image it got.
    color = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(buffer, format)
    return buffer.getvalue()


def done(format: str = "JPEG", where: str = "top") -> Behaviour:
    """The queue finishes at the first poll with a real ``format`` image. ``where`` names it:
    "top" (top-level ``uploaded_image``, absolute), "data" (``data.uploaded_image``, absolute)
    or "image_list_relative" (only ``data.image[0]``, a path such as "/results/4001.jpg")."""
    if format not in _EXTENSIONS:
        raise ValueError(f"the fake makes JPEG or PNG results, not {format!r}")
    if where not in _WHERE:
        raise ValueError(f"where must be one of {sorted(_WHERE)}, not {where!r}")
    return Behaviour(format=format, where=where)


def reconnect_then(times: int, then: Behaviour) -> Behaviour:
    """Answer ``{"action": "reconnect"}`` to ``times`` polls, then behave like ``then``."""
    return replace(then, reconnects=then.reconnects + times)


def fail(error: str, field: str = "error") -> Behaviour:
    """``create_queue`` answers ``{"success": false, "error": error}``; no queue is made.
    ``field`` puts the error under "message" or, as a one-item list, under "errors" instead."""
    return Behaviour(create_error=error, error_field=_error_field(field))


def fail_on_result(error: str, field: str = "error") -> Behaviour:
    """The queue is created; ``get_result`` answers ``{"success": false, "error": error}``
    (``field`` as in ``fail``)."""
    return Behaviour(result_error=error, error_field=_error_field(field))


def _error_field(field: str) -> str:
    if field not in ("error", "message", "errors"):
        raise ValueError(f"field must be error, message or errors, not {field!r}")
    return field


def never_finishes(hold_seconds: float = 30.0) -> Behaviour:
    """``get_result`` always answers reconnect, each poll held open ``hold_seconds`` first (as a
    long poll), so that a client cancelled meanwhile is seen going away."""
    return Behaviour(finishes=False, hold_seconds=hold_seconds)


def result_404_once(then: Behaviour | None = None) -> Behaviour:
    """Like ``then`` (default ``done()``), but the result URL answers 404 at its first download."""
    return replace(then if then is not None else done(), result_404s=1)


def http_error(status: int) -> Behaviour:
    """``create_queue`` answers HTTP ``status`` with an HTML page; no queue is made."""
    return Behaviour(create_status=status)


@pytest.fixture
def fake_turbotext(provider_ports: dict[str, int]) -> Iterator[FakeTurbotext]:
    """A started FakeTurbotext where the server sends Turbotext calls (TURBOTEXT_BASE_URL), stopped
    after the test."""
    with FakeTurbotext(port=provider_ports["turbotext"]) as fake:
        yield fake
