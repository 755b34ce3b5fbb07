"""The booth's form as values: the photo (on disk), the password, the hash, the metadata.

Django's own multipart parser reads the form, under the ``DATA_UPLOAD_*`` limits in the
settings, with the upload handler below; nothing here parses bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from photochanger.errors import InvalidRequest

PHOTO_FIELDS = ("fileToUpload", "file")
# Booth metadata is kept on the job, bounded so a misbehaving client cannot bloat the table.
METADATA_MAX_FIELDS = 40
METADATA_MAX_NAME = 64
METADATA_MAX_VALUE = 1000
_NOT_METADATA = {"password", "hash", *PHOTO_FIELDS}
_HASH_ALGORITHMS = {32: "md5", 40: "sha1", 64: "sha256"}
_READ_BYTES = 1024 * 1024
# Django names the temporary file after the upload's extension; a client's 300-character
# "extension" would make that name too long for the file system (a 500 instead of an answer).
_TEMPORARY_EXTENSION_MAX = 16


class UploadToDisk(TemporaryFileUploadHandler):
    """Django's stream-to-disk upload handler, with a temporary file name no client can make
    too long. The upload keeps the name the client gave (Django trims it to 255 characters)."""

    def new_file(self, field_name: str, file_name: str, *args: object, **kwargs: object) -> None:
        stem, extension = os.path.splitext(file_name)
        if len(extension) > _TEMPORARY_EXTENSION_MAX:
            super().new_file(field_name, stem[:100] or "upload", *args, **kwargs)
            self.file.name = file_name
            return
        super().new_file(field_name, file_name, *args, **kwargs)


@dataclass(frozen=True)
class BoothForm:
    """What the booth sent, besides the slot id in the URL."""

    password: str | None
    photos: list[UploadedFile]
    hash: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def booth_form_read(post: QueryDict, files: MultiValueDict) -> BoothForm:
    """The parsed form as values; InvalidRequest when its password field contradicts itself."""
    passwords = post.getlist("password")
    if len(set(passwords)) > 1:
        raise InvalidRequest("the password field is repeated with different values")
    hashes = post.getlist("hash")
    return BoothForm(
        password=passwords[0] if passwords else None,
        photos=[photo for name in PHOTO_FIELDS for photo in files.getlist(name)],
        hash=hashes[-1].strip().lower()[:128] if hashes else "",
        metadata=booth_metadata(post),
    )


def booth_metadata(post: QueryDict) -> dict[str, str]:
    """Every other field, the last value of each, bounded in number and size."""
    metadata: dict[str, str] = {}
    for name, value in post.items():
        key = _text(name)[:METADATA_MAX_NAME]
        if name in _NOT_METADATA or (key not in metadata and len(metadata) >= METADATA_MAX_FIELDS):
            continue
        metadata[key] = _text(value)[:METADATA_MAX_VALUE]
    return metadata


def _text(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters; a booth has no use for them.
    return value.replace("\x00", "")


def upload_path(photo: UploadedFile) -> Path:
    """Where the upload lies on disk (UploadToDisk writes every upload there)."""
    if not isinstance(photo, TemporaryUploadedFile):
        raise TypeError("uploads are expected on disk (FILE_UPLOAD_HANDLERS)")
    return Path(photo.temporary_file_path())


@dataclass(frozen=True)
class UploadDigests:
    sha256: str
    booth_hash_matches: bool | None  # None when the booth sent no hash


def upload_digests(path: Path, *, booth_hash: str) -> UploadDigests:
    """SHA-256 of the upload and whether the booth's hash (hex MD5, SHA-1 or SHA-256) matches,
    in one read of the file."""
    sha256 = hashlib.sha256()
    algorithm = _HASH_ALGORITHMS.get(len(booth_hash)) if booth_hash else None
    booth = hashlib.new(algorithm) if algorithm and algorithm != "sha256" else None
    with path.open("rb") as file:
        while chunk := file.read(_READ_BYTES):
            sha256.update(chunk)
            if booth is not None:
                booth.update(chunk)
    matches: bool | None = None
    if booth_hash:
        digest = booth.hexdigest() if booth is not None else sha256.hexdigest()
        matches = algorithm is not None and digest == booth_hash
    return UploadDigests(sha256=sha256.hexdigest(), booth_hash_matches=matches)
