"""Errors in the documented JSON shape for machines, whoever answered first.

Django and django-ninja answer a few refusals themselves, as text: a method no operation lists
(405), a request Django cannot read (400). On the machine paths (the booth's and the staff's API,
public downloads) those become ``{"status": "error", "failure_reason": …}``, as every other answer
there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from photochanger.errors import InvalidRequest, MethodNotAllowed, PhotoChangerError
from photochanger.responses import error_response

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
