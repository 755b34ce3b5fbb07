"""JSON answers in the documented shape, with the headers booths and guests get."""

from __future__ import annotations

from django.http import JsonResponse

from photochanger.errors import PhotoChangerError


def json_response(body: dict, *, status: int) -> JsonResponse:
    """A JSON answer with the headers the booth paths get no middleware to add."""
    response = JsonResponse(body, status=status)
    response["Content-Length"] = str(len(response.content))
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def error_response(error: PhotoChangerError) -> JsonResponse:
    response = json_response(error.as_body(), status=error.http_status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    if error.job_id is not None:
        response["X-Job-Id"] = str(error.job_id)
    if error.http_status == 405:
        response["Allow"] = "POST"
    return response
