"""Answers for requests that reach no view: JSON for machines, Django's pages for people."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from photochanger.responses import json_response

_MACHINE_PREFIXES = ("/api/", "/public/")


def json_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(_MACHINE_PREFIXES):
        return json_response({"status": "error", "failure_reason": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def json_server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(_MACHINE_PREFIXES):
        return json_response({"status": "error", "failure_reason": "internal_error"}, status=500)
    return defaults.server_error(request)
