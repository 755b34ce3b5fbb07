"""A booth talking to PhotoChanger in-process, through Django's async test client.

Requests run the whole Django stack (middleware, django-ninja, the multipart parser, the ingest
service) on the test database, the way the server runs them, without a socket. What only a socket
shows (oversized bodies, chunked framing, disconnects) is tested in tests/ingest/test_wire.py
against the real server (tests/live.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.http import HttpResponseBase
from django.test import AsyncClient
from django.utils import translation

INGEST_PASSWORD = "booth-secret-123"
BOUNDARY = "------------090306000104030805010400"


@dataclass(frozen=True)
class Reply:
    """An answer as a booth sees it: status, headers, the whole body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def multipart_body(
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, str, bytes]],
    boundary: str = BOUNDARY,
) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand, so tests control every byte of it."""
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, filename, content_type, data in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class ClientAt(AsyncClient):
    """Django's async test client, calling from ``address`` (REMOTE_ADDR), as a booth on the
    event's network would."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def request(self, **request: Any) -> Any:
        return super().request(client=[self.address, 0], **request)


class InProcessHTTP:
    """The few httpx-like calls tests make (get, post, request), answered in-process."""

    def __init__(self, *, address: str) -> None:
        self.client = ClientAt(address)

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if data is not None or files is not None:
            content, headers["Content-Type"] = multipart_body(
                list((data or {}).items()),
                [
                    (name, filename, content_type, body)
                    for name, (filename, body, content_type) in (files or {}).items()
                ],
            )
        # A request's language (LocaleMiddleware) is activated in this thread; a server's
        # next request would start afresh, and so does the test's own code.
        with translation.override(translation.get_language()):
            return async_to_sync(self._request)(method, url, content, json, params, headers)

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Reply:
        return self.request("POST", url, **kwargs)

    async def _request(
        self,
        method: str,
        url: str,
        content: bytes | None,
        body_json: object,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> Reply:
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", None)
        if body_json is not None:
            content, content_type = json.dumps(body_json).encode(), "application/json"
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response: HttpResponseBase = await self.client.generic(
            method,
            path,
            data=content or b"",
            content_type=content_type or "application/octet-stream",
            headers=headers,
            query_params=params,
        )
        if response.streaming:
            body = b"".join([chunk async for chunk in response.streaming_content])
        else:
            body = response.content
        return Reply(response.status_code, response.headers, body)


class Booth:
    """Sends photos as a booth would; each booth is its own client address, so one test's
    refusals for wrong passwords never spill into another's."""

    base_url = "http://testserver"

    def __init__(self, *, address: str | None = None) -> None:
        self.address = (
            address
            or f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        )
        self.http = self.connect()

    def connect(self) -> Any:
        """The HTTP client this booth sends with: in-process here, a socket in LiveBooth."""
        return InProcessHTTP(address=self.address)

    def post_photo(
        self,
        slot_id: str,
        photo: bytes | None,
        *,
        password: str | None = INGEST_PASSWORD,
        fields: dict[str, str] | None = None,
        filename: str = "IMG_0003.JPG",
        content_type: str = "image/jpeg",
        query: dict[str, str] | None = None,
    ) -> Any:
        form = []
        if password is not None:
            form.append(("password", password))
        form.extend((fields or {}).items())
        files = [] if photo is None else [("fileToUpload", filename, content_type, photo)]
        body, body_type = multipart_body(form, files)
        return self.http.post(
            f"/api/ingest/{slot_id}",
            content=body,
            params=query,
            headers={"Content-Type": body_type},
        )

    def close(self) -> None:
        return None
