"""A corpus of bad requests to the ingest endpoint, each sent over a real socket to our server.

Every case states the answer SPEC §3 documents for it. Whatever the case, the booth never sees a
5xx, an error is the documented JSON, no file stays behind and every job row ends final. Where
the server answers otherwise today the case is marked ``xfail(strict=True)`` with what it does,
so the suite stays green and the gap stays visible.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ingest.models import Job, JobStatus
from tests.booth import INGEST_PASSWORD
from tests.images import image_bytes, jpeg_bytes
from tests.live import LiveBooth as Booth
from tests.live import ServerProcess, consistency_problems, wait_until_consistent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


BOUNDARY = b"------------090306000104030805010400"
PASSWORD = INGEST_PASSWORD.encode()
ANSWER_TIMEOUT_SECONDS = 30
PHOTO = jpeg_bytes((320, 240))
PNG_PHOTO = image_bytes("PNG", (64, 48))
WEBP_PHOTO = image_bytes("WEBP", (64, 48))
ERROR_KEYS = {"status", "failure_reason", "details", "retry_after", "errors"}


# --- building requests byte by byte ---------------------------------------------------------


def field_part(name: bytes, value: bytes, *, headers: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"\r\n'
    return b"--" + BOUNDARY + b"\r\n" + disposition + headers + b"\r\n" + value + b"\r\n"


def file_part(
    data: bytes,
    *,
    name: bytes = b"fileToUpload",
    filename: bytes = b"IMG_0003.JPG",
    content_type: bytes = b"image/jpeg",
    headers: bytes = b"",
) -> bytes:
    disposition = (
        b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"\r\n'
    )
    return (
        b"--"
        + BOUNDARY
        + b"\r\n"
        + disposition
        + b"Content-Type: "
        + content_type
        + b"\r\n"
        + headers
        + b"\r\n"
        + data
        + b"\r\n"
    )


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def booth_form(photo: bytes = PHOTO, *extra: bytes, content_type: bytes = b"image/jpeg") -> bytes:
    """The booth's usual form: the password, then the photo, then ``extra`` parts."""
    return form(
        field_part(b"password", PASSWORD), file_part(photo, content_type=content_type), *extra
    )


MULTIPART = "multipart/form-data; boundary=" + BOUNDARY.decode()


@dataclass(frozen=True)
class Wire:
    """One HTTP request as it goes on the wire. ``content_length`` "auto" is the body's."""

    body: bytes = b""
    method: str = "POST"
    target: str = "/api/ingest/slot-001"
    content_type: str | None = MULTIPART
    headers: tuple[tuple[str, str], ...] = ()
    version: str = "HTTP/1.1"
    content_length: str | None = "auto"
    host: bool = True
    close: bool = True  # ask the server to close after answering, so reading ends at EOF

    def encode(self, client_address: str) -> bytes:
        lines = [f"{self.method} {self.target} {self.version}"]
        if self.host:
            lines.append("Host: booth.local")
        # The test server trusts X-Forwarded-For: each test is its own client for the
        # per-client limits, unless the case sends its own.
        if not any(name.lower() == "x-forwarded-for" for name, _ in self.headers):
            lines.append(f"X-Forwarded-For: {client_address}")
        if self.content_type is not None:
            lines.append(f"Content-Type: {self.content_type}")
        if self.content_length == "auto":
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.content_length is not None:
            lines.append(f"Content-Length: {self.content_length}")
        if self.close:
            lines.append("Connection: close")
        lines += [f"{name}: {value}" for name, value in self.headers]
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + self.body


# --- how a case is sent, and what comes back --------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def response_parse(data: bytes) -> Answer | None:
    """The first final response in ``data`` (interim 1xx answers skipped); None if none."""
    while data.startswith(b"HTTP/") and b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        if 100 <= status < 200:
            data = rest
            continue
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            rest = rest[: int(headers["content-length"])]
        return Answer(status, headers, rest)
    return None


def read_until_closed(sock: socket.socket, timeout: float = ANSWER_TIMEOUT_SECONDS) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


Sender = Callable[[socket.socket, bytes], bytes]


def send_whole(sock: socket.socket, raw: bytes) -> bytes:
    sock.sendall(raw)
    return read_until_closed(sock)


def send_dripping(*, pieces: int, seconds: float) -> Sender:
    """The request in ``pieces`` spread over ``seconds``: a booth on a bad Wi-Fi link."""

    def send(sock: socket.socket, raw: bytes) -> bytes:
        size = -(-len(raw) // pieces)
        for index in range(pieces):
            if index:
                time.sleep(seconds / pieces)
            sock.sendall(raw[index * size : (index + 1) * size])
        return read_until_closed(sock)

    return send


def send_headers_dripping(sock: socket.socket, raw: bytes) -> bytes:
    """The head one line at a time, slowly (slowloris-style), then the body at once."""
    head, body = raw.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n"):
        sock.sendall(line + b"\r\n")
        time.sleep(0.1)
    sock.sendall(b"\r\n" + body)
    return read_until_closed(sock)


def send_and_give_up(sock: socket.socket, raw: bytes) -> bytes:
    """Send everything, wait a little for an answer that cannot come, then hang up."""
    sock.sendall(raw)
    data = read_until_closed(sock, timeout=0.5)
    sock.close()
    return data


def send_and_half_close(sock: socket.socket, raw: bytes) -> bytes:
    """Send everything, then say the request is over (FIN) while the server wants more."""
    sock.sendall(raw)
    sock.shutdown(socket.SHUT_WR)
    return read_until_closed(sock, timeout=5)


# --- test files of every kind ----------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def png_with_bad_crc() -> bytes:
    data = bytearray(PNG_PHOTO)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # first byte of the IDAT's CRC
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """The test photo with its frame header (SOF0) saying ``width`` x ``height``."""
    data = bytearray(PHOTO)
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x01\x00meta" + b"\0" * 256
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    wire: Callable[[], Wire]
    status: int | None  # None: no answer can come (the client gave up first)
    failure_reason: str | None = None  # None for a 200
    job: bool = False  # True: the request passed password and slot, so exactly one job
    send: Sender = send_whole
    answer_type: str | None = None  # for a 200: the Content-Type of the answer
    # True: the HTTP framing itself is broken, and Twisted answers its own bare 400 (no JSON):
    # the request never reaches the application, and no public hook words that answer.
    bare: bool = False


def _query(target: str, password: str) -> str:
    return f"{target}?password={password}"


CASES = [
    # Missing and duplicate parts.
    Case(
        "no-password-field",
        lambda: Wire(form(file_part(PHOTO))),
        400,
        "invalid_request",
    ),
    Case(
        "no-photo-part",
        lambda: Wire(form(field_part(b"password", PASSWORD), field_part(b"time", b"1758217512"))),
        400,
        "invalid_request",
        job=True,
    ),
    Case(
        "only-metadata",
        lambda: Wire(form(field_part(b"time", b"1758217512"), field_part(b"name", b"PC"))),
        400,
        "invalid_request",
    ),
    Case("empty-multipart", lambda: Wire(form()), 400, "invalid_request"),
    Case("zero-byte-body", lambda: Wire(b""), 400, "invalid_request"),
    Case("zero-byte-photo", lambda: Wire(booth_form(b"")), 400, "invalid_request", job=True),
    Case(
        "two-photos",
        lambda: Wire(booth_form(PHOTO, file_part(PHOTO, filename=b"IMG_0004.JPG"))),
        400,
        "invalid_request",
        job=True,
    ),
    Case(
        "photo-and-file-alias",
        lambda: Wire(booth_form(PHOTO, file_part(PHOTO, name=b"file"))),
        400,
        "invalid_request",
        job=True,
    ),
    Case(
        "two-photos-wrong-password",
        lambda: Wire(
            form(
                field_part(b"password", b"wrong"), file_part(PHOTO), file_part(PHOTO, name=b"file")
            )
        ),
        401,
        "invalid_password",
    ),
    Case(
        "two-different-passwords",
        lambda: Wire(booth_form(PHOTO, field_part(b"password", b"another-one"))),
        400,
        "invalid_request",
    ),
    Case(
        "same-password-twice",
        lambda: Wire(booth_form(PHOTO, field_part(b"password", PASSWORD))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "photo-as-plain-field",
        lambda: Wire(form(field_part(b"password", PASSWORD), field_part(b"fileToUpload", PHOTO))),
        400,
        "invalid_request",
        job=True,
    ),
    Case(
        "password-as-file-part",
        lambda: Wire(
            form(
                file_part(
                    PASSWORD, name=b"password", filename=b"pw.txt", content_type=b"text/plain"
                ),
                file_part(PHOTO),
            )
        ),
        400,
        "invalid_request",
    ),
    # Wrong and lying Content-Types.
    Case(
        "text-labelled-jpeg",
        lambda: Wire(booth_form(b"hello, I am a photo, honestly\n" * 20)),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "png-labelled-jpeg",
        lambda: Wire(booth_form(PNG_PHOTO)),
        200,
        job=True,
        answer_type="image/png",
    ),
    Case(
        "webp-labelled-jpeg",
        lambda: Wire(booth_form(WEBP_PHOTO)),
        200,
        job=True,
        answer_type="image/webp",
    ),
    Case(
        "jpeg-labelled-octet-stream",
        lambda: Wire(booth_form(PHOTO, content_type=b"application/octet-stream")),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "body-urlencoded",
        lambda: Wire(
            b"password=" + PASSWORD + b"&fileToUpload=xyz",
            content_type="application/x-www-form-urlencoded",
        ),
        400,
        "invalid_request",
        # Django's parser reads a urlencoded form too: the password passes, the photo is missing.
        job=True,
    ),
    Case(
        "body-json",
        lambda: Wire(
            json.dumps({"password": INGEST_PASSWORD, "fileToUpload": "xyz"}).encode(),
            content_type="application/json",
        ),
        400,
        "invalid_request",
    ),
    Case(
        "body-jpeg-itself",
        lambda: Wire(
            PHOTO, content_type="image/jpeg", target=_query("/api/ingest/slot-001", INGEST_PASSWORD)
        ),
        400,
        "invalid_request",
        job=True,
    ),
    Case("no-content-type", lambda: Wire(booth_form(), content_type=None), 400, "invalid_request"),
    Case(
        "multipart-mixed",
        lambda: Wire(booth_form(), content_type="multipart/mixed; boundary=" + BOUNDARY.decode()),
        400,
        "invalid_request",
    ),
    Case(
        "multipart-without-boundary",
        lambda: Wire(booth_form(), content_type="multipart/form-data"),
        400,
        "invalid_request",
    ),
    Case(
        "boundary-never-appears",
        lambda: Wire(booth_form(), content_type="multipart/form-data; boundary=not-in-the-body"),
        # Django's parser is lenient here: the first field's value runs to the end of the
        # body, so the form's password is wrong.
        401,
        "invalid_password",
    ),
    Case(
        "boundary-not-ascii",
        lambda: Wire(booth_form(), content_type="multipart/form-data; boundary=gr\u00fc\u00dfe"),
        400,
        "invalid_request",
    ),
    Case(
        "content-type-in-capitals",
        lambda: Wire(
            booth_form(), content_type="MULTIPART/FORM-DATA; boundary=" + BOUNDARY.decode()
        ),
        # Django's parser takes the media type as written: MULTIPART/ is not multipart/.
        400,
        "invalid_request",
    ),
    Case(
        "photo-base64-garbage",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD),
                file_part(b"!!! not base64 !!!", headers=b"Content-Transfer-Encoding: base64\r\n"),
            )
        ),
        400,
        "invalid_request",
    ),
    # What is not a whole JPEG, PNG or WebP.
    Case(
        "truncated-jpeg",
        lambda: Wire(booth_form(PHOTO[: len(PHOTO) // 2])),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "jpeg-headers-only",
        lambda: Wire(booth_form(PHOTO[:20])),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "jpeg-claiming-65000x65000",
        lambda: Wire(booth_form(jpeg_claiming(65000, 65000))),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "png-bomb-400-megapixels",
        lambda: Wire(booth_form(png_claiming(20000, 20000), content_type=b"image/png")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "png-bomb-150-megapixels",
        lambda: Wire(booth_form(png_claiming(15000, 10000), content_type=b"image/png")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "png-bad-crc",
        lambda: Wire(booth_form(png_with_bad_crc(), content_type=b"image/png")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "webp-truncated",
        lambda: Wire(booth_form(WEBP_PHOTO[: len(WEBP_PHOTO) // 2], content_type=b"image/webp")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "gif",
        lambda: Wire(booth_form(image_bytes("GIF"), content_type=b"image/gif")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "svg",
        lambda: Wire(booth_form(SVG, content_type=b"image/svg+xml")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "heic",
        lambda: Wire(booth_form(HEIC, content_type=b"image/heic")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "bmp",
        lambda: Wire(booth_form(image_bytes("BMP"), content_type=b"image/bmp")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "tiff",
        lambda: Wire(booth_form(image_bytes("TIFF"), content_type=b"image/tiff")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    Case(
        "pdf",
        lambda: Wire(booth_form(PDF, content_type=b"application/pdf")),
        415,
        "unsupported_media_type",
        job=True,
    ),
    # Oversized and over-numerous fields.
    Case(
        "huge-text-field",
        lambda: Wire(booth_form(PHOTO, field_part(b"profile", b"x" * (1536 * 1024)))),
        413,
        "payload_too_large",
    ),
    Case(
        "huge-text-field-password-in-query",
        lambda: Wire(
            form(file_part(PHOTO), field_part(b"profile", b"x" * (1536 * 1024))),
            target=_query("/api/ingest/slot-001", INGEST_PASSWORD),
        ),
        413,
        "payload_too_large",
        # The form is read before the password and slot checks: a form Django refuses makes
        # no job.
    ),
    Case(
        "thousands-of-fields",
        lambda: Wire(booth_form(PHOTO, *(field_part(b"f%d" % i, b"1") for i in range(3000)))),
        400,
        "invalid_request",
    ),
    Case(
        "thousands-of-fields-password-in-query",
        lambda: Wire(
            form(file_part(PHOTO), *(field_part(b"f%d" % i, b"1") for i in range(3000))),
            target=_query("/api/ingest/slot-001", INGEST_PASSWORD),
        ),
        400,
        "invalid_request",
        # As above: refused while the form is read, before any job.
    ),
    Case(
        "hundred-and-fifty-file-parts",
        lambda: Wire(
            booth_form(
                PHOTO,
                *(file_part(b"x", name=b"f%d" % i, filename=b"%d.txt" % i) for i in range(150)),
            )
        ),
        400,
        "invalid_request",
    ),
    Case(
        "metadata-flood-within-limits",
        lambda: Wire(booth_form(PHOTO, *(field_part(b"m%d" % i, b"v" * 5000) for i in range(60)))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "hash-of-100-kilobytes",
        lambda: Wire(booth_form(PHOTO, field_part(b"hash", b"ab" * 50_000))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    # Encodings: non-UTF-8 and NUL bytes in names, values, filenames.
    Case(
        "non-utf8-field-name",
        lambda: Wire(booth_form(PHOTO, field_part(b"pr\xef\xbf\xfe\xff", b"value"))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "non-utf8-field-value",
        lambda: Wire(
            booth_form(PHOTO, field_part(b"profile", b"C:\\\xc4\xee\xea\xf3\xec\xe5\xed\xf2\xfb"))
        ),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "non-utf8-password",
        lambda: Wire(form(field_part(b"password", b"\xff\xfe\xfd"), file_part(PHOTO))),
        401,
        "invalid_password",
    ),
    Case(
        "cp1251-photo-filename",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD),
                file_part(PHOTO, filename=b"\xd4\xee\xf2\xee.jpg"),
            )
        ),
        # Django's parser skips a part header that is not UTF-8, and with it the photo.
        400,
        "invalid_request",
        job=True,
    ),
    Case(
        "nul-in-metadata-value",
        lambda: Wire(booth_form(PHOTO, field_part(b"profile", b"before\x00after"))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "nul-in-metadata-name",
        lambda: Wire(booth_form(PHOTO, field_part(b"pro\x00file", b"value"))),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "nul-in-filename",
        lambda: Wire(
            form(field_part(b"password", PASSWORD), file_part(PHOTO, filename=b"IMG\x00.JPG"))
        ),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "path-traversal-filename",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD), file_part(PHOTO, filename=b"../../../etc/passwd")
            )
        ),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "filename-of-200-characters",
        lambda: Wire(
            form(field_part(b"password", PASSWORD), file_part(PHOTO, filename=b"a" * 200 + b".jpg"))
        ),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    # Django names the temporary file after the extension: 300 characters must not make it
    # too long for the file system (that was a 500).
    Case(
        "extension-of-300-characters",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD),
                file_part(PHOTO, filename=b"IMG_0003." + b"j" * 300),
            )
        ),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    # Django's parser refuses part headers over its limit: the form cannot be read.
    Case(
        "filename-of-5-kilobytes",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD), file_part(PHOTO, filename=b"b" * 5000 + b".jpg")
            )
        ),
        400,
        "invalid_request",
    ),
    # Django refuses part headers over 1 KiB in all: the form cannot be read.
    Case(
        "filename-of-2000-characters",
        lambda: Wire(
            form(
                field_part(b"password", PASSWORD), file_part(PHOTO, filename=b"a" * 2000 + b".jpg")
            )
        ),
        400,
        "invalid_request",
    ),
    # Odd slot ids.
    Case(
        "slot-path-traversal",
        lambda: Wire(booth_form(), target="/api/ingest/..%2F..%2Fetc%2Fpasswd"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-nul-byte",
        lambda: Wire(booth_form(), target="/api/ingest/slot-001%00"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-of-4000-characters",
        lambda: Wire(booth_form(), target="/api/ingest/" + "s" * 4000),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-unicode",
        lambda: Wire(booth_form(), target="/api/ingest/slot-%C3%B6%F0%9F%93%B7"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-invalid-percent-escape",
        lambda: Wire(booth_form(), target="/api/ingest/slot-%ZZ1"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-in-capitals",
        lambda: Wire(booth_form(), target="/api/ingest/SLOT-001"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-trailing-slash",
        lambda: Wire(booth_form(), target="/api/ingest/slot-001/"),
        404,
        "slot_not_found",
    ),
    Case(
        "slot-traversal-with-wrong-password",
        lambda: Wire(booth_form(), target=_query("/api/ingest/..%2Fslot-001", "wrong")),
        401,
        "invalid_password",
    ),
    # Query-string passwords with odd characters.
    Case(
        "query-password-control-bytes",
        lambda: Wire(booth_form(), target=_query("/api/ingest/slot-001", "%FF%FE%00%01")),
        401,
        "invalid_password",
    ),
    Case(
        "query-password-empty",
        lambda: Wire(booth_form(), target=_query("/api/ingest/slot-001", "")),
        400,
        "invalid_request",
    ),
    Case(
        "query-password-unicode",
        lambda: Wire(
            booth_form(),
            target=_query("/api/ingest/slot-001", "%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C"),
        ),
        401,
        "invalid_password",
    ),
    Case(
        "query-password-right-then-wrong",
        lambda: Wire(
            booth_form(), target=_query("/api/ingest/slot-001", INGEST_PASSWORD + "&password=wrong")
        ),
        401,
        "invalid_password",
    ),
    Case(
        "query-password-of-8000-characters",
        lambda: Wire(booth_form(), target=_query("/api/ingest/slot-001", "p" * 8000)),
        401,
        "invalid_password",
    ),
    Case(
        "query-password-with-crlf-injection",
        lambda: Wire(booth_form(), target=_query("/api/ingest/slot-001", "x%0D%0AX-Injected:%201")),
        401,
        "invalid_password",
    ),
    # Header tricks.
    Case(
        "client-sends-x-job-id",
        lambda: Wire(booth_form(), headers=(("X-Job-Id", "../../etc/passwd"),)),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "garbage-x-forwarded-for-and-wrong-password",
        lambda: Wire(
            form(field_part(b"password", b"wrong"), file_part(PHOTO)),
            headers=(("X-Forwarded-For", "<script>, not an address, ::zz"),),
        ),
        401,
        "invalid_password",
    ),
    Case(
        "host-header-not-a-host-name",
        lambda: Wire(booth_form(), host=False, headers=(("Host", "bad host/../name"),)),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "host-with-underscore",
        lambda: Wire(booth_form(), host=False, headers=(("Host", "photo_booth:8000"),)),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "bogus-expect",
        lambda: Wire(booth_form(), headers=(("Expect", "200-ok-please"),)),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "expect-100-on-http-1.0",
        lambda: Wire(booth_form(), version="HTTP/1.0", headers=(("Expect", "100-continue"),)),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    Case(
        "http-1.0-without-host",
        lambda: Wire(booth_form(), version="HTTP/1.0", host=False, close=False),
        200,
        job=True,
        answer_type="image/jpeg",
    ),
    # Methods.
    Case(
        "get",
        lambda: Wire(method="GET", content_type=None, content_length=None),
        405,
        "method_not_allowed",
    ),
    Case("put", lambda: Wire(booth_form(), method="PUT"), 405, "method_not_allowed"),
    Case(
        "delete",
        lambda: Wire(method="DELETE", content_type=None, content_length=None),
        405,
        "method_not_allowed",
    ),
    Case(
        "propfind",
        lambda: Wire(method="PROPFIND", content_type=None, content_length=None),
        405,
        "method_not_allowed",
    ),
    Case("patch", lambda: Wire(booth_form(), method="PATCH"), 405, "method_not_allowed"),
    # Bodies that lie about their length, or arrive slowly.
    # The closing boundary never comes: not a readable form.
    Case(
        "content-length-shorter-than-body",
        lambda: Wire(booth_form(), content_length=str(len(booth_form()) - 2000)),
        400,
        "invalid_request",
        # Django's parser reads the fields before the cut; the photo part is incomplete.
        job=True,
    ),
    Case(
        "content-length-longer-then-client-gives-up",
        lambda: Wire(booth_form(), content_length=str(len(booth_form()) + 10_000)),
        None,
        send=send_and_give_up,
    ),
    Case(
        "content-length-longer-then-client-half-closes",
        lambda: Wire(booth_form(), content_length=str(len(booth_form()) + 10_000)),
        None,
        send=send_and_half_close,
    ),
    Case(
        "slow-drip-body",
        lambda: Wire(booth_form()),
        200,
        job=True,
        send=send_dripping(pieces=30, seconds=1.0),
        answer_type="image/jpeg",
    ),
    Case(
        "slow-drip-headers",
        lambda: Wire(booth_form()),
        200,
        job=True,
        send=send_headers_dripping,
        answer_type="image/jpeg",
    ),
    Case(
        "chunked-with-bad-chunk-size",
        lambda: Wire(
            b"zz\r\nhello\r\n0\r\n\r\n",
            content_length=None,
            headers=(("Transfer-Encoding", "chunked"),),
        ),
        400,
        "invalid_request",
        bare=True,
    ),
    Case(
        "chunked-and-content-length",
        lambda: Wire(booth_form(), headers=(("Transfer-Encoding", "chunked"),)),
        400,
        "invalid_request",
        bare=True,
    ),
    Case(
        "two-different-content-lengths",
        lambda: Wire(booth_form(), headers=(("Content-Length", "5"),)),
        400,
        "invalid_request",
        bare=True,
    ),
    Case(
        "negative-content-length",
        lambda: Wire(booth_form(), content_length="-1"),
        400,
        "invalid_request",
        bare=True,
    ),
]


def _params() -> list:
    params = []
    for case in CASES:
        params.append(pytest.param(case, id=case.id))
    return params


def exchange(booth: Booth, case: Case) -> tuple[Answer | None, bytes]:
    address = urlsplit(booth.base_url)
    raw = case.wire().encode(booth.address)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        data = case.send(sock, raw)
    return response_parse(data), data


def assert_documented_answer(case: Case, answer: Answer | None, data: bytes) -> None:
    if case.status is None:
        assert answer is None, f"an answer came back: {data[:300]!r}"
        return
    assert answer is not None, f"no HTTP answer: {data[:300]!r}"
    assert answer.status < 500, data[:2000]
    assert answer.status == case.status, data[:2000]
    assert not any(name.startswith("x-injected") for name in answer.headers)
    if case.status == 200:
        assert answer.headers["content-type"] == case.answer_type
        assert answer.headers["cache-control"] == "no-store"
        assert "x-job-id" in answer.headers
        assert "x-result-url" in answer.headers
        assert len(answer.body) == int(answer.headers["content-length"]) > 0
        return
    if case.bare:
        return
    assert answer.headers.get("content-type") == "application/json", data[:2000]
    body = json.loads(answer.body) if answer.body else None
    assert isinstance(body, dict), data[:2000]
    assert set(body) <= ERROR_KEYS, body
    assert body["status"] == "error"
    assert body["failure_reason"] == case.failure_reason, body
    text = answer.body.decode("utf-8", "replace")
    for leak in ("Traceback", "/work/", "site-packages", "/tmp/", str(Path.home())):
        assert leak not in text, text


def assert_job_final(case: Case, answer: Answer | None, booth: Booth, media_root: Path) -> None:
    try:
        wait_until_consistent(media_root)
    except AssertionError:
        let_the_server_collect_leaks(booth, media_root)
        raise
    jobs = list(Job.objects.all())
    assert not [job for job in jobs if job.status == JobStatus.PENDING]
    assert len(jobs) == (1 if case.job else 0), [(job.status, job.failure_reason) for job in jobs]
    if not case.job:
        return
    job = jobs[0]
    assert answer.headers.get("x-job-id") == str(job.id)
    assert job.http_status == case.status
    assert job.finished_at is not None
    if case.status == 200:
        assert job.status == JobStatus.DONE
    else:
        assert job.status == JobStatus.FAILED
        assert job.failure_reason == case.failure_reason


def let_the_server_collect_leaks(booth: Booth, media_root: Path, timeout: float = 30) -> None:
    """Keep the server busy until what it leaked (an upload file only its garbage collector
    will close) is gone, so a failing case does not spill into the next tests."""
    deadline = time.monotonic() + timeout
    while consistency_problems(media_root) and time.monotonic() < deadline:
        booth.http.get("/healthz")


@pytest.mark.parametrize("case", _params())
def test_bad_request_gets_the_documented_answer_and_leaves_nothing_behind(
    case: Case, booth: Booth, server_process: ServerProcess, media_root: Path
) -> None:
    answer, data = exchange(booth, case)

    # Read the server's log here, so a refusal that logged a traceback fails this test (and
    # its xfail mark applies) rather than the booth fixture's teardown.
    log = server_process.new_log()
    assert_documented_answer(case, answer, data)
    assert_job_final(case, answer, booth, media_root)
    assert "Traceback" not in log, log
    assert booth.http.get("/healthz").status_code == 200


def test_corpus_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
