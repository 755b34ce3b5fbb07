"""Reading a multipart/form-data body that is already whole in memory or on disk.

Our server spools each request body to a file before the application runs (photochanger.server),
so the form needs no streaming parser: the parts are found with ``bytes.find`` over a read-only
memory map of the file, the small fields are decoded, and only the photo's bytes are copied,
inside the kernel (``os.copy_file_range``), to a temporary file of its own. Django's parser copies
every byte through Python in 64 KiB steps. Measured alone on a 10 MB (1 MB) photo: finding the
parts 1.5 ms (0.2 ms) and copying the photo 2.9 ms (0.5 ms); Django's parser 7.5 ms (0.9 ms).

The rules are Django's, so a form reads the same whichever parser sees it: a part is a file when
its Content-Disposition names a non-empty filename, parts without a name are skipped, part
headers are limited to 1 KiB, and the DATA_UPLOAD_* settings bound the fields and files. Part
headers that are not UTF-8 are read with replacement characters instead of dropping the part.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import mmap
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.utils.http import parse_header_parameters

MAX_PART_HEADER_BYTES = 1024
# RFC 2046 allows text before the first boundary; a booth sends none, so a little is plenty.
MAX_PREAMBLE_BYTES = 4096


class MultipartError(ValueError):
    """The body is not a readable multipart/form-data form."""


class FieldsTooLarge(MultipartError):
    """The form's fields (not its files) are over DATA_UPLOAD_MAX_MEMORY_SIZE."""


@dataclass(frozen=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    start: int  # the part's content is body[start:end]
    end: int
    base64: bool = False  # Content-Transfer-Encoding: base64

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Form:
    fields: list[tuple[str, str]]  # in the order sent; a name may repeat
    files: list[FilePart]

    def values(self, name: str) -> list[str]:
        return [value for field_name, value in self.fields if field_name == name]

    def files_named(self, *names: str) -> list[FilePart]:
        return [part for part in self.files if part.name in names]


@dataclass(frozen=True)
class Body:
    data: bytes | mmap.mmap  # what form_parse searches
    fileno: int | None  # the file behind it, for copies inside the kernel


@contextlib.contextmanager
def body_open(body: BinaryIO | bytes) -> Iterator[Body]:
    """The request body ready for ``form_parse``: a read-only map of the file when it is one
    on disk, else its bytes."""
    if isinstance(body, bytes | bytearray):
        yield Body(data=body, fileno=None)
        return
    if isinstance(body, io.BytesIO):
        yield Body(data=body.getvalue(), fileno=None)
        return
    try:
        fileno = body.fileno()
    except (AttributeError, OSError):  # an in-memory spool (small bodies, tests)
        body.seek(0)
        yield Body(data=body.read(), fileno=None)
        return
    body.flush()
    if os.fstat(fileno).st_size == 0:
        yield Body(data=b"", fileno=None)  # mmap refuses empty files
        return
    with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as data:
        yield Body(data=data, fileno=fileno)


def form_parse(body: Body, boundary: bytes) -> Form:
    """Find the parts of the body; raise MultipartError when it is not a whole form."""
    view = body.data
    if not boundary or len(boundary) > 70:
        raise MultipartError("the multipart boundary is missing or too long")
    delimiter = b"--" + boundary
    if view[: len(delimiter)] == delimiter:
        position = len(delimiter)
    else:
        found = view.find(b"\r\n" + delimiter, 0, MAX_PREAMBLE_BYTES + len(delimiter) + 2)
        if found < 0:
            raise MultipartError("the body does not start with its multipart boundary")
        position = found + 2 + len(delimiter)
    next_delimiter = b"\r\n" + delimiter
    fields: list[tuple[str, str]] = []
    files: list[FilePart] = []
    field_bytes = 0
    while True:
        if view[position : position + 2] == b"--":
            return Form(fields=fields, files=files)  # the closing delimiter; the rest is epilogue
        position = _line_end(view, position)
        headers_end = view.find(b"\r\n\r\n", position - 2, position + MAX_PART_HEADER_BYTES)
        if headers_end < 0:
            raise MultipartError("a part's headers are missing or over 1 KiB")
        headers = _headers_parse(view[position : headers_end + 2])
        content_start = headers_end + 4
        content_end = view.find(next_delimiter, content_start)
        if content_end < 0:
            raise MultipartError("the body ends before its closing multipart boundary")
        position = content_end + len(next_delimiter)

        disposition, parameters = _header_parameters(headers.get("content-disposition", ""))
        name = parameters.get("name", "").strip()
        if disposition != "form-data" or not name:
            continue
        is_base64 = headers.get("content-transfer-encoding", "").strip().lower() == "base64"
        if parameters.get("filename"):
            filename = _filename_clean(parameters["filename"])
            if not filename:
                continue  # a name that is only a path ("..", "dir/"): Django skips the file
            files.append(
                FilePart(
                    name=name,
                    filename=filename,
                    content_type=_header_parameters(headers.get("content-type", ""))[0],
                    start=content_start,
                    end=content_end,
                    base64=is_base64,
                )
            )
            if _over(len(files), settings.DATA_UPLOAD_MAX_NUMBER_FILES):
                raise MultipartError("the form holds too many files")
            continue
        # Counted before the copy (base64 only shrinks), so a huge field is never copied.
        field_bytes += content_end - content_start + len(name) + 2
        if _over(field_bytes, settings.DATA_UPLOAD_MAX_MEMORY_SIZE):
            raise FieldsTooLarge("the form fields are too large")
        data = bytes(view[content_start:content_end])
        if is_base64:
            with contextlib.suppress(binascii.Error):
                data = binascii.a2b_base64(data)
        fields.append((name, data.decode("utf-8", "replace")))
        if _over(len(fields), settings.DATA_UPLOAD_MAX_NUMBER_FIELDS):
            raise MultipartError("the form holds too many fields")


def part_save(*, body: Body, part: FilePart, to: BinaryIO) -> None:
    """Write the part's content to the file ``to``: decoded when it is base64, else copied
    inside the kernel when the body is a file."""
    if part.base64:
        try:
            to.write(binascii.a2b_base64(body.data[part.start : part.end]))
        except binascii.Error:
            raise MultipartError(f"the {part.name} part is not valid base64") from None
    elif body.fileno is None or not _range_copy(body.fileno, part.start, part.size, to):
        to.seek(0)
        to.truncate()
        to.write(memoryview(body.data)[part.start : part.end])
    to.flush()


def _range_copy(source: int, offset: int, size: int, to: BinaryIO) -> bool:
    """Copy inside the kernel; False where it cannot (not Linux, another file system)."""
    if not hasattr(os, "copy_file_range"):
        return False
    to.flush()
    copied = 0
    try:
        while copied < size:
            done = os.copy_file_range(
                source, to.fileno(), size - copied, offset_src=offset + copied
            )
            if done == 0:
                raise MultipartError("the body changed while it was read")
            copied += done
    except OSError:
        return False
    to.seek(copied)
    return True


def _over(count: int, limit: int | None) -> bool:
    return limit is not None and count > limit  # None turns a limit off, as in Django


def _header_parameters(value: str) -> tuple[str, dict[str, str]]:
    try:
        return parse_header_parameters(value)
    except ValueError as error:  # an RFC 2231 value in an unknown charset
        raise MultipartError(str(error)) from None


def _line_end(view: bytes | mmap.mmap, position: int) -> int:
    """Skip the delimiter line's trailing whitespace (RFC 2046) and its CRLF."""
    while view[position : position + 1] in (b" ", b"\t"):
        position += 1
    if view[position : position + 2] != b"\r\n":
        raise MultipartError("a multipart boundary is not followed by a line break")
    return position + 2


def _headers_parse(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError("a part header has no colon")
        headers[name.decode("latin-1").strip().lower()] = value.decode("utf-8", "replace").strip()
    return headers


def _filename_clean(filename: str) -> str:
    """The last component of the name the booth gave, as Django keeps it."""
    filename = filename.replace("\x00", "")
    filename = posixpath.basename(filename.replace("\\", "/")).strip()
    return "" if filename in (".", "..") else filename
