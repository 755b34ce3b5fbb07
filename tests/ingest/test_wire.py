"""Ingest at the socket level: the real booth's capture replayed, and bodies too large to read."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from PIL import Image

from ingest.models import Job, JobStatus
from photochanger.models import BoothRequest
from tests.booth import INGEST_PASSWORD, multipart_body
from tests.images import jpeg_bytes
from tests.live import LiveBooth
from tests.live import LiveBooth as Booth

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


# The fields DSLR Remote Pro 3.30.2 sent in a real capture (SPEC §3), password aside.
DSLR_FIELDS = [
    ("time", "1758217512"),
    ("user_id", "Acer"),
    ("id", "CY04N068111304S2L_00000001."),
    ("profile", r"C:\Users\Acer\Documents\PhotoboothImages\setup_Serg.xml"),
    ("status", r"C:\Users\Acer\Documents\PhotoboothImages\screenSerg\preview.jpg"),
    ("hash", "7b6c683e1d3fd29c8701791c54e3c12a236f5a5b"),
    ("name", "DESKTOP-K968T3F"),
    ("model", "Windows"),
    ("version", "3.30.2"),
]


def connect(booth: Booth) -> socket.socket:
    address = urlsplit(booth.base_url)
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: booth.local"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_dslr_remote_pro_capture_gets_a_processed_jpeg(booth: Booth) -> None:
    photo = jpeg_bytes((1024, 768))
    body, content_type = multipart_body(
        [*DSLR_FIELDS, ("password", INGEST_PASSWORD)],
        [("fileToUpload", "IMG_0003.JPG", "image/jpeg", photo)],
        boundary="------------090306000104030805010400",
    )
    sock = connect(booth)
    sock.sendall(
        request_head(
            "/api/ingest/slot-002",
            {
                "Content-Type": content_type,
                "Content-Length": str(len(body)),
                "Expect": "100-continue",
            },
        )
    )
    # The booth waits for the go-ahead before it sends the photo.
    interim = sock.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    sock.sendall(body)
    status, headers, answer = read_response(sock)
    sock.close()

    assert status == 200
    assert headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer)) as result:
        assert result.format == "JPEG"
        assert result.mode == "L"
    job = Job.objects.get()
    assert job.status == JobStatus.DONE
    assert job.upload_filename == "IMG_0003.JPG"
    assert job.upload_hash == "7b6c683e1d3fd29c8701791c54e3c12a236f5a5b"
    assert job.metadata == {name: value for name, value in DSLR_FIELDS if name != "hash"}


@pytest.mark.parametrize("expect_continue", [True, False], ids=["expect-100", "no-expect"])
def test_huge_body_with_honest_length_is_refused_without_being_read(
    booth: Booth, expect_continue: bool
) -> None:
    headers = {
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(200 * 1024 * 1024),
    }
    if expect_continue:
        headers["Expect"] = "100-continue"
    sock = connect(booth)
    started = time.monotonic()
    sock.sendall(request_head("/api/ingest/slot-001", headers))

    status, response_headers, body = read_response(sock)
    elapsed = time.monotonic() - started

    assert status == 413
    assert json.loads(body) == {
        "status": "error",
        "failure_reason": "payload_too_large",
        "details": "the request body is over the 20 MiB limit",
    }
    assert response_headers["connection"] == "close"
    assert elapsed < 1.0  # answered from the headers alone, not after 200 MB
    # The server does not read on: what we can still push fits in socket buffers.
    sent = push_until_refused(sock, limit=200 * 1024 * 1024)
    assert sent < 32 * 1024 * 1024
    assert Job.objects.count() == 0
    # Refused before the request reached the application, and in the booth request log all
    # the same (the server writes it within a fraction of a second).
    logged = wait_for_log_row(status=413)
    assert (logged.reason, logged.bytes, logged.slot_sent) == (
        "payload_too_large",
        200 * 1024 * 1024,
        "",
    )


def push_until_refused(sock: socket.socket, *, limit: int) -> int:
    sock.settimeout(3)
    chunk = b"\0" * (1024 * 1024)
    sent = 0
    try:
        while sent < limit:
            sent += sock.send(chunk)
    except OSError:  # timeout (nobody reads) or reset (the server gave up on us)
        pass
    finally:
        sock.close()
    return sent


def test_chunked_body_is_cut_off_once_past_the_cap(booth: Booth) -> None:
    sock = connect(booth)
    sock.sendall(
        request_head(
            "/api/ingest/slot-001",
            {"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"},
        )
    )
    chunk = b"\0" * (1024 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    sock.settimeout(3)
    try:
        while sent < 100 * len(framed):
            sock.sendall(framed)
            sent += len(framed)
    except OSError:
        pass
    status, _, body = read_response(sock)
    sock.close()

    assert status == 413
    assert json.loads(body)["failure_reason"] == "payload_too_large"
    assert sent < 40 * len(framed)  # cut off near the 20 MiB cap, not after 100 MiB
    assert Job.objects.count() == 0


def test_chunked_upload_under_the_cap_is_processed(booth: Booth, photo: bytes) -> None:
    body, content_type = multipart_body(
        [("password", INGEST_PASSWORD)], [("fileToUpload", "a.jpg", "image/jpeg", photo)]
    )
    sock = connect(booth)
    sock.sendall(
        request_head(
            "/api/ingest/slot-001",
            {"Content-Type": content_type, "Transfer-Encoding": "chunked"},
        )
    )
    for start in range(0, len(body), 10_000):
        piece = body[start : start + 10_000]
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    status, _, answer = read_response(sock)
    sock.close()

    assert status == 200
    assert answer == photo


def test_chunked_body_over_the_cap_in_one_write_is_refused_and_never_runs(
    booth: Booth, photo: bytes, media_root
) -> None:
    # The whole 25 MiB body, its last chunk included, reaches the server in as few reads as the
    # kernel makes: the read that crosses the cap also holds the end of the request.
    body, content_type = multipart_body(
        [("password", INGEST_PASSWORD), ("padding", "x" * (25 * 1024 * 1024))],
        [("fileToUpload", "a.jpg", "image/jpeg", photo)],
    )
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    sock = connect(booth)
    sock.sendall(
        request_head(
            "/api/ingest/slot-001",
            {"Content-Type": content_type, "Transfer-Encoding": "chunked"},
        )
        + framed[: 8 * 1024 * 1024]
    )
    push_until_refused_from(sock, framed[8 * 1024 * 1024 :])
    status, _, answer = read_response(sock)
    sock.close()

    assert status == 413
    assert json.loads(answer)["failure_reason"] == "payload_too_large"
    time.sleep(0.5)  # a request that ran anyway would have made its job by now
    assert Job.objects.count() == 0
    assert list((media_root / "tmp").iterdir()) == []


def push_until_refused_from(sock: socket.socket, data: bytes) -> None:
    sock.settimeout(3)
    # The server stops reading (a timeout here) or gives up on us (a reset).
    with contextlib.suppress(OSError):
        sock.sendall(data)


def test_hostile_bodies_do_not_stall_health_or_a_booth(booth: Booth, photo: bytes) -> None:
    # Four 20 MB bodies of ~20,000 parts without a name, with a wrong password in the form:
    # Django's parser counts every part against DATA_UPLOAD_MAX_NUMBER_FIELDS and stops early.
    part = b"--x\r\nContent-Disposition: form-data\r\n\r\n" + b"v" * 960 + b"\r\n"
    body = b'--x\r\nContent-Disposition: form-data; name="password"\r\n\r\nwrong\r\n'
    body += part * (20 * 1024 * 1024 // len(part)) + b"--x--\r\n"
    head = request_head(
        "/api/ingest/slot-001",
        {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(len(body))},
    )
    answers: list[tuple[int, bytes]] = []

    def hostile() -> None:
        sock = connect(booth)
        sock.settimeout(60)
        sock.sendall(head + body)
        status, _, answer = read_response(sock)
        sock.close()
        answers.append((status, answer))

    threads = [threading.Thread(target=hostile) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the bodies are arriving
    other = LiveBooth(booth.base_url)
    started = time.monotonic()
    health = other.http.get("/healthz")
    health_seconds = time.monotonic() - started
    started = time.monotonic()
    upload = other.post_photo("slot-002", photo)
    upload_seconds = time.monotonic() - started
    other.close()
    for thread in threads:
        thread.join()

    assert health.status_code == 200
    assert upload.status_code == 200
    assert health_seconds < 1.0, health_seconds
    assert upload_seconds < 1.0, upload_seconds
    assert len(answers) == 4
    for status, answer in answers:
        assert status in (400, 413)
        assert json.loads(answer)["status"] == "error"


def test_a_refusal_for_too_many_tries_has_its_reason_phrase(booth: Booth) -> None:
    # Guessing result links from one address ends in 429; Twisted alone would call it
    # "Unknown Status", which some booth software shows to the crew as is.
    with booth.connect() as client:
        for _ in range(settings.RESULT_GUESS_FAILURES):
            client.get(f"/public/results/{uuid.uuid4()}")
    with connect(booth) as sock:
        sock.sendall(
            f"GET /public/results/{uuid.uuid4()} HTTP/1.1\r\nHost: booth.local\r\n"
            f"X-Forwarded-For: {booth.address}\r\nConnection: close\r\n\r\n".encode()
        )
        status_line = sock.makefile("rb").readline()

    assert status_line == b"HTTP/1.1 429 Too Many Requests\r\n"


def wait_for_log_row(*, status: int, timeout: float = 5.0) -> BoothRequest:
    deadline = time.monotonic() + timeout
    while (row := BoothRequest.objects.filter(status=status).first()) is None:
        assert time.monotonic() < deadline, f"no {status} in the booth request log"
        time.sleep(0.05)
    return row
