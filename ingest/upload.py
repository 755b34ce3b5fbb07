"""The booth's multipart form, read into what the ingest rules need."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict

from ingest.multipart import (
    Body,
    FieldsTooLarge,
    FilePart,
    Form,
    MultipartError,
    body_open,
    form_parse,
    part_save,
)
from photochanger.errors import InvalidRequest, PayloadTooLarge

PHOTO_FIELDS = ("fileToUpload", "file")
# Booth metadata is kept on the job, bounded so a misbehaving client cannot bloat the table.
METADATA_MAX_FIELDS = 40
METADATA_MAX_NAME = 64
METADATA_MAX_VALUE = 1000
_NOT_METADATA = {"password", "hash", *PHOTO_FIELDS}
_HASH_ALGORITHMS = {32: "md5", 40: "sha1", 64: "sha256"}
_READ_BYTES = 1024 * 1024


@dataclass
class BoothUpload:
    password: str | None
    photo: UploadedFile | None
    hash: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    problem: InvalidRequest | None = None


def booth_upload_read(request: HttpRequest) -> BoothUpload:
    """Read the form; raise InvalidRequest (400) for anything that is not a readable one.

    The photo is copied to a temporary file of its own (FILE_UPLOAD_TEMP_DIR). A form that
    reads but is wrong (two photos) is returned with its ``problem``, answered only once the
    password and slot checks have passed.
    """
    with _form_open(request) as (body, form):
        photos = form.files_named(*PHOTO_FIELDS)
        passwords = form.values("password")
        if len(set(passwords)) > 1:
            raise InvalidRequest("the password field is repeated with different values")
        hashes = form.values("hash")
        photo = _photo_save(body, photos[0]) if len(photos) == 1 else None
        if photo is not None:
            _close_with_request(request, photos[0].name, photo)
        return BoothUpload(
            password=passwords[0] if passwords else None,
            photo=photo,
            hash=hashes[-1].strip().lower()[:128] if hashes else "",
            metadata=_metadata(form.fields),
            problem=(
                InvalidRequest("send exactly one photo (fileToUpload)") if len(photos) > 1 else None
            ),
        )


def _close_with_request(request: HttpRequest, name: str, photo: TemporaryUploadedFile) -> None:
    """Put the photo where Django keeps a request's uploads: it closes (deletes) them once the
    response has been sent. Django's own parser may have filled that place already (a staff
    session's CSRF check reads the form): its files must stay there to be deleted too."""
    if getattr(request, "_files", None) is None:
        request._files = MultiValueDict()
    request._files.appendlist(name, photo)


def form_field(request: HttpRequest, name: str) -> str | None:
    """The last value of one field of the form, without saving any of its files."""
    with _form_open(request) as (_, form):
        values = form.values(name)
        return values[-1] if values else None


@contextlib.contextmanager
def _form_open(request: HttpRequest) -> Iterator[tuple[Body, Form]]:
    if request.content_type.lower() != "multipart/form-data":
        raise InvalidRequest("the body must be multipart/form-data")
    boundary = request.content_params.get("boundary", "")
    if not boundary.isascii():
        raise InvalidRequest("the multipart boundary is not ASCII")
    # Our server hands the spooled body over (photochanger.asgi); Django's test client does not.
    source = getattr(request, "body_file", None) or request.body
    try:
        with body_open(source) as body:
            yield body, form_parse(body, boundary.encode("ascii"))
    except FieldsTooLarge:
        raise PayloadTooLarge("the form fields are too large") from None
    except MultipartError as error:
        raise InvalidRequest(f"the multipart body cannot be read: {error}") from None


def _photo_save(body: Body, part: FilePart) -> TemporaryUploadedFile:
    photo = TemporaryUploadedFile(part.filename, part.content_type, part.size, charset=None)
    try:
        part_save(body=body, part=part, to=photo.file)
    except BaseException:
        photo.close()  # deletes the temporary file
        raise
    photo.size = photo.file.tell()
    photo.file.seek(0)
    return photo


def _metadata(fields: list[tuple[str, str]]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for name, value in fields:
        key = _text(name)[:METADATA_MAX_NAME]
        if name in _NOT_METADATA or (key not in metadata and len(metadata) >= METADATA_MAX_FIELDS):
            continue
        metadata[key] = _text(value)[:METADATA_MAX_VALUE]  # the last value of a repeated name
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
