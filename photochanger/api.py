"""The one NinjaAPI: mounts each app's router and turns errors into the documented JSON."""

from __future__ import annotations

import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from ingest.api import public_router as results_router
from ingest.api import router as ingest_router
from ingest.api import staff_router as jobs_router
from media.api import router as media_router
from photochanger.errors import InternalError, InvalidRequest, PayloadTooLarge, PhotoChangerError
from photochanger.health import router as health_router
from photochanger.responses import error_response, json_response
from slots.api import router as slots_router
from stats.api import router as stats_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="PhotoChanger",
    version="1",
    description="Photo booth ingest, public results and the staff API.",
    docs_url="/api/docs",
    openapi_url="/api/openapi.json",
    docs_decorator=staff_member_required,
    urls_namespace="api",
)
api.add_router("/api/", ingest_router)
api.add_router("/api/", slots_router)
api.add_router("/api/", jobs_router)
api.add_router("/api/", stats_router)
api.add_router("/", results_router)
api.add_router("/", media_router)
api.add_router("/", health_router)


@api.exception_handler(PhotoChangerError)
def on_photochanger_error(request: HttpRequest, error: PhotoChangerError) -> JsonResponse:
    return error_response(error)


@api.exception_handler(MultiPartParserError)
def on_unreadable_form(request: HttpRequest, error: MultiPartParserError) -> JsonResponse:
    return _form_refused(request, InvalidRequest(f"the multipart body cannot be read: {error}"))


# Django's parser refuses a form over the DATA_UPLOAD_* limits with these.
@api.exception_handler(RequestDataTooBig)
def on_form_too_large(request: HttpRequest, error: RequestDataTooBig) -> JsonResponse:
    return _form_refused(request, PayloadTooLarge("the form fields are too large"))


@api.exception_handler(TooManyFieldsSent)
def on_too_many_fields(request: HttpRequest, error: TooManyFieldsSent) -> JsonResponse:
    return _form_refused(request, InvalidRequest("the form has too many fields"))


@api.exception_handler(TooManyFilesSent)
def on_too_many_files(request: HttpRequest, error: TooManyFilesSent) -> JsonResponse:
    return _form_refused(request, InvalidRequest("the form has too many files"))


def _form_refused(request: HttpRequest, error: PhotoChangerError) -> JsonResponse:
    # A parse that stops in the middle of a file leaves it to the upload handler, which Django
    # tells only when the client stopped the upload: its temporary file must not outlive this.
    for handler in request.upload_handlers:
        handler.upload_interrupted()
    return error_response(error)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, error: ValidationError) -> JsonResponse:
    return json_response(
        {
            "status": "error",
            "failure_reason": "invalid_request",
            "errors": _errors_by_field(error.errors),
        },
        status=422,
    )


def _errors_by_field(errors: list[dict]) -> dict[str, str]:
    """Ninja's error list as ``{field: message}``, the shape SlotSettingsInvalid answers with.

    A location is (source, …): a path, query or form field follows the source directly; a
    JSON body is one schema parameter, whose name comes next and is no field of the client's.
    Nested fields are dotted (``settings.bits``); the body as a whole is ``body``.
    """
    by_field: dict[str, list[str]] = {}
    for item in errors:
        source, *parts = [str(part) for part in item.get("loc", ())] or ["request"]
        if source == "body":
            parts = parts[1:]
        field = ".".join(parts) or source
        by_field.setdefault(field, []).append(str(item.get("msg", "Invalid value.")))
    return {field: " ".join(messages) for field, messages in by_field.items()}


_HTTP_FAILURE_REASONS = {401: "unauthorized", 403: "forbidden", 429: "rate_limited"}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> JsonResponse:
    reason = _HTTP_FAILURE_REASONS.get(error.status_code, "invalid_request")
    return json_response(
        {"status": "error", "failure_reason": reason, "details": error.message},
        status=error.status_code,
    )


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> JsonResponse:
    return json_response({"status": "error", "failure_reason": "not_found"}, status=404)


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, error: Exception) -> JsonResponse:
    error_id = getattr(error, "job_id", None)
    logger.exception("unexpected error on %s %s (job %s)", request.method, request.path, error_id)
    return error_response(InternalError("an unexpected error; it has been logged"))
