"""Google Gemini: the photo, the slot's template images and its prompt in; one new image out.

One ``generateContent`` call per attempt. A 200 is not always an image: Gemini reports refusals
(blocked prompt, safety finish reasons, a text-only answer) inside a successful answer, so those are
read as permanent errors. Only overload and transient server errors, and ``NO_IMAGE``, are tried
again, and only while the job's deadline leaves room for the wait and another attempt.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from typing import Annotated, Literal, get_args

import httpx
from django.utils.translation import gettext
from pydantic import Field, ValidationInfo, field_validator

from media.images import image_format
from photochanger.executors import run_image_work
from providers.base import (
    Deadline,
    ProviderError,
    ProviderRefused,
    ProviderRequest,
    ProviderResult,
)
from providers.http import error_description, json_error_object, provider_client, text_excerpt
from providers.keys import ApiKeyRefused, with_api_key
from providers.photos import photo_for_provider
from providers.retry import RetryLater, with_retries
from providers.settings import (
    DEFAULT_MAX_ATTEMPTS,
    MIN_SECONDS_HELP,
    Attempts,
    MinSeconds,
    ProviderSettings,
    problem,
    text,
    text_or_default,
    worded,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gemini-2.5-flash-image"
# What Gemini's imageConfig accepts; anything else is a 400 for every guest.
AspectRatio = Literal["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
ImageSize = Literal["1K", "2K", "4K"]
ASPECT_RATIOS = get_args(AspectRatio)
IMAGE_SIZES = get_args(ImageSize)

_RETRY_STATUSES = frozenset({429, 500, 503, 504})
_REFUSALS = frozenset(
    {"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER"}
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# httpx's timeout ends a little after the deadline, so that under the pipeline its cancellation at
# the deadline (a 504) always comes first; the timeout matters only when nobody cancels.
_TIMEOUT_GRACE_SECONDS = 0.5


def _prompt_problem(prompt: str) -> str:
    return gettext("The prompt is required for Gemini.")


def _model_problem(model: str) -> str:
    return gettext(
        "“%(model)s” is not a Gemini model name: use letters, digits, dots, dashes "
        "and underscores only, such as %(example)s."
    ) % {"model": model, "example": DEFAULT_MODEL}


def _aspect_ratio_problem(ratio: str) -> str:
    return gettext(
        "The aspect ratio must be one of %(choices)s; leave it empty to let Gemini choose."
    ) % {"choices": ", ".join(ASPECT_RATIOS)}


def _image_size_problem(size: str) -> str:
    return gettext("The image size must be one of %(choices)s; leave it empty for 1K.") % {
        "choices": ", ".join(IMAGE_SIZES)
    }


def _model_name(value: object) -> str:
    # People paste the resource name ("models/gemini-…") from Google's docs; both forms work.
    return text_or_default(value).removeprefix("models/")


def _image_size_name(value: object) -> str:
    # Google refuses a lowercase "k"; staff need not know that.
    return text_or_default(value).upper()


class GeminiSettings(ProviderSettings):
    provider = "gemini"
    # A wrong prompt, model or address leaves nothing to call.
    lenient = frozenset({"aspect_ratio", "image_size", "max_attempts"})

    prompt: Annotated[str, Field(min_length=1), worded(_prompt_problem, normalised=text)] = Field(
        description="What Gemini should make of the photo and the template images"
    )
    model: Annotated[
        str,
        # The model goes into the URL path, so it may not carry slashes, dot segments or queries.
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
        worded(_model_problem, normalised=_model_name),
    ] = Field(
        DEFAULT_MODEL, description="The Gemini image model, with or without the models/ prefix"
    )
    aspect_ratio: Annotated[
        AspectRatio | None, worded(_aspect_ratio_problem, normalised=text_or_default)
    ] = Field(None, description="The image's shape, empty to let Gemini choose")
    image_size: Annotated[
        ImageSize | None, worded(_image_size_problem, normalised=_image_size_name)
    ] = Field(None, description="The image's size (Gemini 3 models only), empty for 1K")
    max_attempts: Attempts = Field(
        DEFAULT_MAX_ATTEMPTS, description="How many calls a job may make while Gemini is overloaded"
    )

    # An image takes Gemini 5-15 s.
    min_seconds: MinSeconds = Field(8, description=MIN_SECONDS_HELP)

    @field_validator("image_size")
    @classmethod
    def _image_size_fits_the_model(cls, size: str | None, info: ValidationInfo) -> str | None:
        # Only the 3.x image models take an output size; 2.5 refuses the field with a 400.
        model = info.data.get("model")
        if size and model and not model.startswith("gemini-3"):
            raise problem(
                gettext(
                    "The image size works only with Gemini 3 models (such as "
                    "gemini-3-pro-image-preview); leave it empty for %(model)s."
                )
                % {"model": model}
            )
        return size

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1beta/models/{self.model}:generateContent"


class GeminiProvider:
    name = "gemini"
    operations = ("generate",)
    needs_public_urls = False
    needs_api_key = True
    settings_model = GeminiSettings

    def uses_template_images(self, operation: str) -> bool:
        return True

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        return ()  # template images are optional references

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        problems = {}
        if operation not in self.operations:
            problems[""] = gettext("Gemini has no operation “%(operation)s”; use “generate”.") % {
                "operation": operation
            }
        return problems | GeminiSettings.problems(settings, operation=operation)

    async def process(self, request: ProviderRequest) -> ProviderResult:
        if request.operation not in self.operations:
            raise ProviderError(f"the gemini provider has no operation {request.operation!r}")
        keys = request.key_ring("gemini")
        if not keys.size:
            raise ProviderError("gemini API key is not configured")
        options = GeminiSettings.for_call(request.settings, operation=request.operation)
        # Decoding, resizing and base64 of a 12 MP photo take far too long for the event loop.
        body = await run_image_work(_request_body, request, options)
        return await with_retries(
            lambda: with_api_key(
                keys,
                lambda api_key: _attempt(
                    url=options.url, body=body, api_key=api_key, deadline=request.deadline
                ),
            ),
            provider="gemini",
            job_id=request.job_id,
            max_attempts=options.max_attempts,
            deadline=request.deadline,
        )


async def _attempt(*, url: str, body: bytes, api_key: str, deadline: Deadline) -> ProviderResult:
    headers = {"x-goog-api-key": api_key, "Content-Type": "application/json"}
    # httpx errors carry the request, headers and key included: chain none of them (from None).
    try:
        # Leaving the block closes the connection, also on cancellation: Gemini sees the hang-up.
        timeout = deadline.remaining() + _TIMEOUT_GRACE_SECONDS
        async with provider_client(timeout=timeout) as client:
            response = await client.post(url, content=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        # Nothing reached Gemini, so nothing was billed or started: safe to try again.
        raise RetryLater(f"cannot connect to gemini ({error_description(error)})") from None
    except httpx.TimeoutException:
        raise ProviderError("gemini did not answer in time", retryable=True) from None
    except httpx.TransportError as error:
        raise ProviderError(
            f"the connection to gemini failed ({error_description(error)})", retryable=True
        ) from None
    if response.status_code != httpx.codes.OK:
        raise _http_error(response, api_key)
    # Parsing a few MB of JSON and base64 is CPU work too.
    return await run_image_work(_image_from_answer, response.content)


def _request_body(request: ProviderRequest, options: GeminiSettings) -> bytes:
    photo, photo_type = photo_for_provider(request.photo_path, request.photo_orientation)
    parts: list[dict] = [_inline_part(photo_type, photo)]
    parts += [_inline_part(image.content_type, image.data) for image in request.template_images]
    parts.append({"text": options.prompt})
    generation_config: dict = {"responseModalities": ["IMAGE"]}
    image_config = {}
    if options.aspect_ratio:
        image_config["aspectRatio"] = options.aspect_ratio
    if options.image_size:
        image_config["imageSize"] = options.image_size
    if image_config:
        generation_config["imageConfig"] = image_config
    body = {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": generation_config,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _inline_part(content_type: str, data: bytes) -> dict:
    return {"inline_data": {"mime_type": content_type, "data": base64.b64encode(data).decode()}}


def _http_error(response: httpx.Response, api_key: str) -> ProviderError:
    error = json_error_object(response)
    details = error.get("details")
    details = details if isinstance(details, list) else []
    reason = _detail(details, _ERROR_INFO).get("reason")
    if isinstance(reason, str) and reason.startswith("API_KEY"):
        return ApiKeyRefused(f"gemini refused the key ({reason})")
    summary = f"gemini answered HTTP {response.status_code}"
    if isinstance(error.get("status"), str):
        summary += f" {error['status']}"
    message = error.get("message")
    if isinstance(message, str) and message:
        # Google does not echo keys today; a message is still never a place for one.
        summary += f": {text_excerpt(message.replace(api_key, '[key]'))}"
    if response.status_code in _RETRY_STATUSES:
        # A 429 (RESOURCE_EXHAUSTED) is this key's quota or rate: another key may go through.
        limited = response.status_code == httpx.codes.TOO_MANY_REQUESTS
        return RetryLater(summary, delay=_retry_delay(details), rate_limited=limited)
    return ProviderError(summary)


def _detail(details: list, type_url: str) -> dict:
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == type_url:
            return detail
    return {}


def _retry_delay(details: list) -> float | None:
    # A protobuf Duration in JSON: decimal seconds with an "s" suffix, such as "2s" or "1.5s".
    value = _detail(details, _RETRY_INFO).get("retryDelay")
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _image_from_answer(content: bytes) -> ProviderResult:
    try:
        answer = json.loads(content)
    except ValueError:
        raise ProviderError("gemini sent a malformed answer") from None
    if not isinstance(answer, dict):
        raise ProviderError("gemini sent a malformed answer")
    feedback = answer.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        raise ProviderRefused(f"gemini blocked the request ({feedback['blockReason']})")
    candidates = answer.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else {}
    candidate = candidate if isinstance(candidate, dict) else {}
    finish_reason = candidate.get("finishReason") or ""
    if finish_reason in _REFUSALS:
        raise ProviderRefused(f"gemini refused to make the image ({finish_reason})")
    if finish_reason == "NO_IMAGE":
        raise RetryLater("gemini made no image (NO_IMAGE)")
    content_object = candidate.get("content")
    parts = content_object.get("parts") if isinstance(content_object, dict) else None
    answers = [
        part for part in (parts if isinstance(parts, list) else []) if isinstance(part, dict)
    ]
    # Thinking models send draft images marked "thought" before the final one.
    images = [
        inline
        for part in answers
        if not part.get("thought")
        and isinstance(inline := part.get("inlineData", part.get("inline_data")), dict)
    ]
    if not images:
        text = " ".join(
            part["text"].strip()
            for part in answers
            if not part.get("thought") and isinstance(part.get("text"), str)
        ).strip()
        if text:
            raise ProviderError(f"gemini answered with text only: {text_excerpt(text)}")
        raise ProviderError(f"gemini sent no image (finishReason {finish_reason or 'missing'})")
    try:
        data = base64.b64decode(images[-1].get("data") or "", validate=True)
        return ProviderResult(format=image_format(data), data=data)
    except (binascii.Error, TypeError, ValueError):
        raise ProviderError("gemini sent an image that is not a JPEG, PNG or WebP") from None
