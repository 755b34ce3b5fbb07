"""Errors in the documented JSON shape for machines, whoever answered first; and the log of
every booth request.

Django and django-ninja answer a few refusals themselves, as text: a method no operation lists
(405), a request Django cannot read (400). On the machine paths (the booth's and the staff's API,
public downloads) those become ``{"status": "error", "failure_reason": …}``, as every other answer
there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware

from photochanger.errors import InvalidRequest, MethodNotAllowed, PhotoChangerError
from photochanger.request_log import BoothRequestEntry, request_log
from photochanger.responses import error_response
from photochanger.throttle import client_address

MACHINE_PREFIXES = ("/api/", "/public/")
_REWRITTEN: dict[int, type[PhotoChangerError]] = {400: InvalidRequest, 405: MethodNotAllowed}


@sync_and_async_middleware
def machine_errors_as_json(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _as_json(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return _as_json(request, get_response(request))

    return middleware


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    error = _REWRITTEN.get(response.status_code)
    if (
        error is None
        or not request.path.startswith(MACHINE_PREFIXES)
        or response.get("Content-Type", "").startswith("application/json")
    ):
        return response
    allowed = response.get("Allow")
    answer = error_response(error())
    if allowed is not None:
        answer["Allow"] = allowed
    return answer


INGEST_PREFIX = "/api/ingest/"


@sync_and_async_middleware
def booth_requests_logged(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable:
    """Every request to the booth's endpoint into the request log, after its answer is made
    (photochanger.request_log): whatever refused it, with the answer's status and reason."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            if request.path.startswith(INGEST_PREFIX):
                request_log.record(_booth_request(request, response))
            return response

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            response = get_response(request)
            if request.path.startswith(INGEST_PREFIX):
                request_log.record(_booth_request(request, response))
            return response

    return middleware


def _booth_request(request: HttpRequest, response: HttpResponse) -> BoothRequestEntry:
    try:
        job_id = uuid.UUID(response.get("X-Job-Id", ""))
    except ValueError:
        job_id = None
    try:
        sent_bytes = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        sent_bytes = None
    return BoothRequestEntry(
        at=timezone.now(),
        client=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        slot_sent=request.path.removeprefix(INGEST_PREFIX).strip("/"),
        status=response.status_code,
        reason=_answer_reason(response),
        bytes=sent_bytes,
        job_id=job_id,
    )


def _answer_reason(response: HttpResponse) -> str:
    if response.status_code < 400:
        if response.get("X-PhotoChanger-Fallback"):
            return "original"
        return "repeat" if response.get("X-PhotoChanger-Repeat") else ""
    if response.streaming or not response.get("Content-Type", "").startswith("application/json"):
        return ""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    reason = body.get("failure_reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else ""
