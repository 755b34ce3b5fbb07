"""The booth's multipart form, read into what the ingest rules need."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from photochanger.errors import InvalidRequest, PayloadTooLarge

PHOTO_FIELDS = ("fileToUpload", "file")
# Booth metadata is kept on the job, bounded so a misbehaving client cannot bloat the table.
METADATA_MAX_FIELDS = 40
METADATA_MAX_NAME = 64
METADATA_MAX_VALUE = 1000
_NOT_METADATA = {"password", "hash", *PHOTO_FIELDS}
_HASH_ALGORITHMS = {32: "md5", 40: "sha1", 64: "sha256"}
_READ_BYTES = 1024 * 1024
_FRAME_SLACK = 4096


class PhotoUploadHandler(TemporaryFileUploadHandler):
    """Django's to-disk upload handler, reading in 128 KiB chunks instead of 64 KiB.

    Measured on a 10 MB photo: 64 KiB 8.1 ms, 128 KiB 7.5 ms, 1 MiB 8.9 ms (Django's parser
    copies more per chunk as chunks grow).
    """

    chunk_size = 128 * 1024

    def discard(self) -> None:
        """Delete the file of a part the parser gave up on (else it waits for the GC)."""
        if getattr(self, "file", None) is not None:
            self.file.close()


@dataclass
class BoothUpload:
    password: str | None
    photo: UploadedFile | None
    hash: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    problem: InvalidRequest | None = None


def booth_upload_read(request: HttpRequest) -> BoothUpload:
    """Parse the form; raise InvalidRequest (400) for anything that is not a readable one.

    Django streams each file part to a temporary file on disk (FILE_UPLOAD_HANDLERS). A form
    that reads but is wrong (two photos) is returned with its ``problem``, answered only once
    the password and slot checks have passed.
    """
    if request.content_type.lower() != "multipart/form-data":
        raise InvalidRequest("the body must be multipart/form-data")
    _normalise_content_type(request)
    if not _multipart_framed(request):
        raise InvalidRequest("the multipart body does not start and end with its boundary")
    try:
        fields, files = request.POST, request.FILES
    except RequestDataTooBig:
        raise PayloadTooLarge("the form fields are too large") from None
    except (MultiPartParserError, SuspiciousOperation, UnicodeDecodeError, ValueError) as error:
        for handler in request.upload_handlers:
            if isinstance(handler, PhotoUploadHandler):
                handler.discard()
        raise InvalidRequest(f"the multipart body cannot be read: {error}") from None

    passwords = fields.getlist("password")
    if len(set(passwords)) > 1:
        raise InvalidRequest("the password field is repeated with different values")
    photos = [upload for name in PHOTO_FIELDS for upload in files.getlist(name)]
    return BoothUpload(
        password=passwords[0] if passwords else None,
        photo=photos[0] if len(photos) == 1 else None,
        hash=fields.get("hash", "").strip().lower()[:128],
        metadata=_metadata(fields),
        problem=(
            InvalidRequest("send exactly one photo (fileToUpload)") if len(photos) > 1 else None
        ),
    )


def _normalise_content_type(request: HttpRequest) -> None:
    # Media types are case-insensitive (RFC 9110); Django's parser compares them as sent.
    if not request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        parameters = "".join(f"; {name}={value}" for name, value in request.content_params.items())
        request.META["CONTENT_TYPE"] = "multipart/form-data" + parameters


def _multipart_framed(request: HttpRequest) -> bool:
    """Whether the body opens with its boundary and closes with it (RFC 2046 allows a short
    preamble and epilogue). Django's parser would otherwise read a body whose boundary never
    appears as one field holding everything."""
    body_file = getattr(request, "body_file", None)
    boundary = request.content_params.get("boundary", "").encode("ascii", "replace")
    if body_file is None or not boundary:
        return True  # not our server, or no boundary: Django's parser will say so
    size = body_file.seek(0, io.SEEK_END)
    body_file.seek(0)
    head = body_file.read(_FRAME_SLACK)
    body_file.seek(max(0, size - _FRAME_SLACK))
    tail = body_file.read()
    body_file.seek(0)
    return b"--" + boundary in head and b"--" + boundary + b"--" in tail


def _metadata(fields: object) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for name, values in fields.lists():
        if name in _NOT_METADATA or len(metadata) >= METADATA_MAX_FIELDS:
            continue
        metadata[_text(name)[:METADATA_MAX_NAME]] = _text(values[-1])[:METADATA_MAX_VALUE]
    return metadata


def _text(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters; a booth has no use for them.
    return value.replace("\x00", "")


@dataclass(frozen=True)
class UploadDigests:
    sha256: str
    booth_hash_matches: bool | None


def upload_digests(file: BinaryIO, *, booth_hash: str) -> UploadDigests:
    """SHA-256 of the upload and whether the booth's hash (hex MD5, SHA-1 or SHA-256) matches."""
    sha256 = hashlib.sha256()
    algorithm = _HASH_ALGORITHMS.get(len(booth_hash)) if booth_hash else None
    booth = hashlib.new(algorithm) if algorithm and algorithm != "sha256" else None
    file.seek(0)
    while chunk := file.read(_READ_BYTES):
        sha256.update(chunk)
        if booth is not None:
            booth.update(chunk)
    matches: bool | None = None
    if booth_hash:
        digest = booth.hexdigest() if booth is not None else sha256.hexdigest()
        matches = algorithm is not None and digest == booth_hash
    return UploadDigests(sha256=sha256.hexdigest(), booth_hash_matches=matches)
