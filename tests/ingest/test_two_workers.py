"""Two ASGI worker processes sharing one database and one Redis, as in production (SPEC §7).

The capacity limit holds across both workers (Redis), and a job finished on one worker reaches
a staff member's live feed connected to the other (the Redis channel layer).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import re
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth.hashers import make_password

from ingest.models import Job, JobStatus
from slots.models import GlobalSettings, Slot
from tests.fakes.gemini import FakeGemini, delay
from tests.images import jpeg_bytes
from tests.live import LiveBooth as Booth
from tests.live import ServerProcess, server_pair, wait_until_consistent
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/14"
# Both workers sign sessions with the same key, as every worker of one deployment does.
SECRET_KEY = "two-workers-test-secret-key-0c5d2f7e9a4b6c8d1e3f5a7b9c0d2e4f"
STAFF_USERNAME = "operator"
STAFF_PASSWORD = "operator-password-6502"
SLOW_SLOT = "slot-006"
PROVIDER_SECONDS = 4


@pytest.fixture
def workers(
    configured: None, media_root: Path, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Workers A and B: two `manage.py serve` processes on the test database and Redis db 14."""
    with server_pair(
        tmp_path, redis_url=REDIS_URL, media_root=media_root, extra_env={"SECRET_KEY": SECRET_KEY}
    ) as pair:
        yield pair


@pytest.fixture
def slow_gemini_slot(configured: None, fake_gemini: FakeGemini) -> str:
    GlobalSettings.objects.update(gemini_api_key="test-gemini-key")
    Slot.objects.filter(pk=SLOW_SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "make it a painting"},
    )
    return SLOW_SLOT


@pytest.fixture
def staff_user(configured: None) -> object:
    return staff_with_role(
        STAFF_USERNAME, EVENT_OPERATOR, password_hash=make_password(STAFF_PASSWORD)
    )


def post_photo(base_url: str, slot_id: str, photo: bytes) -> httpx.Response:
    booth = Booth(base_url)
    try:
        return booth.post_photo(slot_id, photo)
    finally:
        booth.close()


def wait_for_requests(fake: FakeGemini, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, f"the fake got {len(fake.requests)} requests"
        time.sleep(0.02)


def test_capacity_is_shared_so_a_third_photo_gets_429_from_either_worker(
    workers: tuple[ServerProcess, ServerProcess],
    slow_gemini_slot: str,
    fake_gemini: FakeGemini,
    media_root: Path,
) -> None:
    GlobalSettings.objects.update(max_concurrent_jobs=2)
    fake_gemini.script(delay(PROVIDER_SECONDS), delay(PROVIDER_SECONDS))
    photo = jpeg_bytes()

    with ThreadPoolExecutor(max_workers=2) as pool:
        # One photo in flight on each worker (two guests: two photos).
        slow = [
            pool.submit(post_photo, worker.base_url, slow_gemini_slot, jpeg_bytes((640, height)))
            for worker, height in zip(workers, (480, 481), strict=True)
        ]
        wait_for_requests(fake_gemini, 2)

        for worker in workers:
            started = time.monotonic()
            refused = post_photo(worker.base_url, "slot-001", photo)
            elapsed = time.monotonic() - started

            assert refused.status_code == 429, (worker.base_url, refused.text)
            assert refused.json()["failure_reason"] == "rate_limited"
            assert int(refused.headers["retry-after"]) > 0
            assert elapsed < 1.0
        assert [future.result().status_code for future in slow] == [200, 200]

    # Both claims are given back: either worker takes the next photo.
    assert post_photo(workers[1].base_url, "slot-001", photo).status_code == 200
    wait_until_consistent(media_root)
    assert Job.objects.filter(status=JobStatus.DONE).count() == 3
    assert Job.objects.filter(failure_reason="rate_limited").count() == 2


def test_job_finished_on_one_worker_reaches_the_live_feed_on_the_other(
    workers: tuple[ServerProcess, ServerProcess], staff_user: object, media_root: Path
) -> None:
    worker_a, worker_b = workers
    cookie = staff_session_cookie(worker_b.base_url)

    with LiveFeed(worker_b.base_url, cookie=cookie) as feed:
        response = post_photo(worker_a.base_url, "slot-002", jpeg_bytes())
        assert response.status_code == 200
        job_id = response.headers["x-job-id"]
        message = feed.receive_job(job_id, timeout=10)

    assert message["type"] == "job.finished"
    assert message["job"]["slot_id"] == "slot-002"
    assert message["job"]["status"] == "done"
    assert message["job"]["http_status"] == 200
    assert message["job"]["result_url"] == f"/public/results/{job_id}"
    wait_until_consistent(media_root)


def test_live_feed_refuses_a_socket_without_a_staff_session(
    workers: tuple[ServerProcess, ServerProcess],
) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        LiveFeed(workers[1].base_url, cookie="")
    assert refused.value.status == 403


# --- staff login and a minimal WebSocket client ----------------------------------------------


def staff_session_cookie(base_url: str) -> str:
    """Log in through the admin's login form, as staff do; return the Cookie header value."""
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    with httpx.Client(base_url=base_url, headers={"X-Forwarded-For": address}) as client:
        page = client.get("/admin/login/", params={"next": "/admin/"})
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert page.status_code == 200, page.text[:500]
        assert token, page.text[:500]
        answer = client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": STAFF_USERNAME,
                "password": STAFF_PASSWORD,
                "csrfmiddlewaretoken": token.group(1),
                "next": "/admin/",
            },
        )
        assert answer.status_code == 302, answer.text[:500]
        return f"sessionid={client.cookies['sessionid']}"


_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the WebSocket handshake was answered {status}")
        self.status = status


class LiveFeed:
    """A WebSocket client for ws/stats/ (RFC 6455, text frames only), as a browser would
    connect: same Origin as the host, the staff session cookie."""

    def __init__(self, base_url: str, *, cookie: str) -> None:
        address = urlsplit(base_url)
        host = f"{address.hostname}:{address.port}"
        self.sock = socket.create_connection((address.hostname, address.port), timeout=10)
        key = base64.b64encode(os.urandom(16))
        head = [
            "GET /ws/stats/ HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
            f"Origin: http://{host}",
        ]
        if cookie:
            head.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        response, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = response.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        if status != 101:
            self.sock.close()
            raise HandshakeRefused(status)
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines)
        }
        accept = base64.b64encode(hashlib.sha1(key + _WEBSOCKET_GUID).digest()).decode()
        assert headers["sec-websocket-accept"] == accept

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def receive_job(self, job_id: str, *, timeout: float) -> dict:
        """The feed's message about ``job_id``, skipping messages about other jobs."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            message = json.loads(self._message())
            if message.get("job", {}).get("id") == job_id:
                return message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send(_CLOSE, struct.pack(">H", 1000))
        self.sock.close()

    def _message(self) -> str:
        payload = b""
        while True:
            fin, opcode, data = self._frame()
            if opcode == _PING:
                self._send(_PONG, data)
            elif opcode == _CLOSE:
                raise ConnectionError(f"the server closed the feed: {data!r}")
            else:
                payload += data
                if fin:
                    return payload.decode()

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._exactly(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._exactly(8))[0]
        mask = self._exactly(4) if second & 0x80 else b""
        data = self._exactly(length)
        if mask:
            data = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        return bool(first & 0x80), first & 0x0F, data

    def _send(self, opcode: int, data: bytes) -> None:
        # A client masks every frame it sends (RFC 6455 5.3); control frames are short.
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(data)]) + mask + masked)

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk


def test_a_photo_re_sent_to_the_other_worker_waits_for_the_first_call(
    workers: tuple[ServerProcess, ServerProcess],
    slow_gemini_slot: str,
    fake_gemini: FakeGemini,
    media_root: Path,
) -> None:
    fake_gemini.script(delay(2), delay(2))
    photo = jpeg_bytes()

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(post_photo, workers[0].base_url, slow_gemini_slot, photo)
        wait_for_requests(fake_gemini, 1)
        again = post_photo(workers[1].base_url, slow_gemini_slot, photo)
        original = first.result()

    assert (original.status_code, again.status_code) == (200, 200)
    assert again.headers["x-job-id"] == original.headers["x-job-id"]
    assert again.headers["x-photochanger-repeat"] == "true"
    assert "x-photochanger-repeat" not in original.headers
    assert again.content == original.content
    assert len(fake_gemini.requests) == 1  # one paid call for both
    wait_until_consistent(media_root)
    repeat = Job.objects.exclude(pk=original.headers["x-job-id"]).get()
    assert (repeat.status, str(repeat.repeat_of_id)) == (
        JobStatus.DONE,
        original.headers["x-job-id"],
    )
