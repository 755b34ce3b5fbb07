"""The multipart reader on bodies built by hand: no server, no database."""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from ingest.multipart import FieldsTooLarge, Form, MultipartError, body_open, form_parse, part_save

BOUNDARY = b"----BoothBoundary7MA4YWxkTrZu0gW"
# Bytes a parser could trip on: a blank line and a "\r\n--" that is not our boundary.
PHOTO = b"\xff\xd8\xff\xe0JFIF\x00\r\n\r\n--not-the-boundary\r\n" + bytes(range(256)) + b"\xff\xd9"


def part(*headers: str | bytes, content: bytes = b"") -> bytes:
    lines = [header if isinstance(header, bytes) else header.encode() for header in headers]
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n" + content


def field(name: str, value: str | bytes) -> bytes:
    content = value if isinstance(value, bytes) else value.encode()
    return part(f'Content-Disposition: form-data; name="{name}"', content=content)


def photo(
    filename: str | bytes = 'filename="IMG_0001.JPG"', *headers: str, content: bytes = PHOTO
) -> bytes:
    disposition = b'Content-Disposition: form-data; name="fileToUpload"; '
    filename = filename if isinstance(filename, bytes) else filename.encode()
    return part(disposition + filename, "Content-Type: image/jpeg", *headers, content=content)


def form(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    delimiter = b"--" + BOUNDARY
    body = b"".join(delimiter + b"\r\n" + one + b"\r\n" for one in parts)
    return preamble + body + delimiter + b"--\r\n" + epilogue


def parse(body: bytes, boundary: bytes = BOUNDARY) -> Form:
    with body_open(body) as opened:
        return form_parse(opened, boundary)


BOOTH_FORM = form(field("password", "s3cret"), photo())


@pytest.fixture(params=["bytes", "BytesIO", "file"])
def as_body(request: pytest.FixtureRequest) -> Iterator[Callable[[bytes], bytes | BinaryIO]]:
    """The three shapes a request body reaches the reader in."""
    with tempfile.TemporaryFile() as spooled:

        def convert(data: bytes) -> bytes | BinaryIO:
            if request.param == "bytes":
                return data
            if request.param == "BytesIO":
                return io.BytesIO(data)
            spooled.write(data)  # left unflushed, as the server's spool may be
            return spooled

        yield convert


def test_booth_form_gives_the_password_and_the_exact_photo(as_body: Callable) -> None:
    with body_open(as_body(BOOTH_FORM)) as body:
        form_read = form_parse(body, BOUNDARY)
        (part_read,) = form_read.files
        content = bytes(body.data[part_read.start : part_read.end])

    assert form_read.fields == [("password", "s3cret")]
    assert (part_read.name, part_read.filename) == ("fileToUpload", "IMG_0001.JPG")
    assert part_read.content_type == "image/jpeg"
    assert content == PHOTO


def test_part_save_writes_exactly_the_photo(as_body: Callable, tmp_path: Path) -> None:
    target = tmp_path / "photo.jpg"
    with body_open(as_body(BOOTH_FORM)) as body, target.open("w+b") as to:
        part_save(body=body, part=form_parse(body, BOUNDARY).files[0], to=to)
        assert to.tell() == len(PHOTO)  # the upload's size is read from here

    assert target.read_bytes() == PHOTO


def test_part_save_decodes_a_base64_photo(as_body: Callable, tmp_path: Path) -> None:
    encoded = base64.encodebytes(PHOTO * 3)  # MIME style, with line breaks
    data = form(photo('filename="a.jpg"', "Content-Transfer-Encoding: base64", content=encoded))
    target = tmp_path / "photo.jpg"
    with body_open(as_body(data)) as body, target.open("w+b") as to:
        part_save(body=body, part=form_parse(body, BOUNDARY).files[0], to=to)

    assert target.read_bytes() == PHOTO * 3


def test_part_save_refuses_invalid_base64(tmp_path: Path) -> None:
    data = form(photo('filename="a.jpg"', "Content-Transfer-Encoding: base64", content=b"no!"))
    with body_open(data) as body, (tmp_path / "photo.jpg").open("w+b") as to:
        (part_read,) = form_parse(body, BOUNDARY).files
        with pytest.raises(MultipartError, match="not valid base64"):
            part_save(body=body, part=part_read, to=to)


def test_preamble_before_the_first_boundary_is_skipped() -> None:
    body = form(field("password", "s3cret"), preamble=b"This is a MIME preamble.\r\n")
    assert parse(body).fields == [("password", "s3cret")]


def test_epilogue_after_the_closing_boundary_is_ignored() -> None:
    late_part = b"--" + BOUNDARY + b"\r\n" + field("late", "ignored") + b"\r\n"
    body = form(field("password", "s3cret"), epilogue=late_part)
    assert parse(body).fields == [("password", "s3cret")]


def test_photo_bytes_resembling_the_boundary_stay_intact() -> None:
    almost = b"\r\n--" + BOUNDARY[:-1] + b"\r\n"  # one character short of the delimiter
    tricky = b"\xff\xd8" + almost + b"\r\n--\r\n--" + BOUNDARY.lower() + b"\xff\xd9"
    body = form(photo(content=tricky), field("password", "s3cret"))
    with body_open(body) as opened:
        form_read = form_parse(opened, BOUNDARY)
        content = opened.data[form_read.files[0].start : form_read.files[0].end]

    assert content == tricky
    assert form_read.fields == [("password", "s3cret")]


def test_body_without_the_boundary_is_refused() -> None:
    with pytest.raises(MultipartError, match="does not start"):
        parse(b"password=s3cret&fileToUpload=IMG_0001.JPG")


def test_truncated_body_is_refused() -> None:
    with pytest.raises(MultipartError, match="ends before"):
        parse(BOOTH_FORM[: BOOTH_FORM.index(PHOTO) + 10])


def test_part_headers_over_1_kib_are_refused() -> None:
    padded = part('Content-Disposition: form-data; name="a"', "X-Pad: " + "a" * 1024, content=b"")
    with pytest.raises(MultipartError, match="over 1 KiB"):
        parse(form(padded))


def test_part_header_without_a_colon_is_refused() -> None:
    broken = part('Content-Disposition: form-data; name="a"', "no colon here", content=b"x")
    with pytest.raises(MultipartError, match="no colon"):
        parse(form(broken))


@pytest.mark.parametrize("boundary", [b"", b"x" * 71], ids=["empty", "71-characters"])
def test_boundary_empty_or_over_70_characters_is_refused(boundary: bytes) -> None:
    body = BOOTH_FORM.replace(BOUNDARY, boundary)
    with pytest.raises(MultipartError, match="missing or too long"):
        parse(body, boundary)


def test_boundary_line_without_crlf_is_refused() -> None:
    body = BOOTH_FORM.replace(b"--" + BOUNDARY + b"\r\n", b"--" + BOUNDARY + b"\n", 1)
    with pytest.raises(MultipartError, match="not followed by a line break"):
        parse(body)


def test_parts_without_a_name_or_not_form_data_are_skipped() -> None:
    body = form(
        part("Content-Disposition: form-data", content=b"nameless"),
        part('Content-Disposition: form-data; filename="a.jpg"', content=PHOTO),
        part('Content-Disposition: attachment; name="password"', content=b"wrong"),
        part("Content-Type: text/plain", content=b"no disposition"),
        field("password", "s3cret"),
    )
    assert parse(body) == Form(fields=[("password", "s3cret")], files=[])


def test_part_with_empty_filename_is_a_field() -> None:
    body = form(photo('filename=""', content=b""))
    assert parse(body) == Form(fields=[("fileToUpload", "")], files=[])


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (b'filename="../../etc/passwd"', "passwd"),
        (b'filename="C:\\Users\\x\\IMG.JPG"', "IMG.JPG"),
        (b'filename="IMG\x00.JPG"', "IMG.JPG"),
        (b"filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.jpg", "фото.jpg"),
        (b'filename="' + "фото.jpg".encode("cp1251") + b'"', "\ufffd\ufffd\ufffd\ufffd.jpg"),
    ],
    ids=["unix-path", "windows-path", "nul", "rfc2231", "cp1251"],
)
def test_filename_is_cleaned_as_django_does(sent: bytes, kept: str) -> None:
    (part_read,) = parse(form(photo(sent))).files
    assert part_read.filename == kept


def test_file_whose_name_cleans_to_nothing_is_skipped() -> None:
    # Django's parser skips such a part; here the photo's bytes become a text field.
    assert parse(form(photo('filename=".."'))) == Form(fields=[], files=[])


def test_content_type_in_an_unknown_charset_is_a_multipart_error() -> None:
    body = form(photo('filename="a.jpg"', "Content-Type: image/jpeg; charset*=nope''x"))
    with pytest.raises(MultipartError):  # a bare ValueError escapes booth_upload_read: a 500
        parse(body)


def test_field_that_is_not_utf8_is_read_with_replacement_characters() -> None:
    form_read = parse(form(field("comment", "привет".encode("cp1251"))))
    assert form_read.values("comment") == ["\ufffd" * 6]


def test_repeated_field_keeps_every_value_in_order() -> None:
    form_read = parse(form(field("hash", "first"), field("password", "s"), field("hash", "second")))
    assert form_read.values("hash") == ["first", "second"]


def test_more_fields_than_the_setting_allows_are_refused(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 2
    fields = [field(f"f{number}", "x") for number in range(3)]
    assert len(parse(form(*fields[:2])).fields) == 2
    with pytest.raises(MultipartError, match="too many fields"):
        parse(form(*fields))


def test_more_files_than_the_setting_allows_are_refused(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    assert len(parse(form(photo(), photo())).files) == 2
    with pytest.raises(MultipartError, match="too many files"):
        parse(form(photo(), photo(), photo()))


def test_file_limit_of_zero_refuses_any_file(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 0  # Django's parser then refuses every file
    with pytest.raises(MultipartError, match="too many files"):
        parse(BOOTH_FORM)


def test_field_bytes_over_the_memory_setting_are_too_large(settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(FieldsTooLarge):
        parse(form(field("comment", "x" * 100)))


def test_photo_bytes_do_not_count_against_the_memory_setting(settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    assert parse(form(field("password", "s3cret"), photo(content=PHOTO * 10))).files
