"""OpenAI images: the photo and the slot's template images, edited by the slot's prompt into one
new image.

One multipart ``/v1/images/edits`` call per attempt. A moderation refusal and any other client
error (a bad key, a bad parameter, no quota) are permanent; rate limits and server errors are
tried again, only while the job's deadline leaves room for the wait and another attempt.

The module is named after the provider like its siblings. Imports in this project are absolute
(``providers.openai``), so it cannot shadow the ``openai`` SDK package, which we do not use.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

import httpx
from django.utils.translation import gettext
from pydantic import Field

from media.images import CONTENT_TYPES, EXTENSIONS, image_format
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
    text,
    text_or_default,
    worded,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-image-1"
# What the edits endpoint accepts; OpenAI wants them lowercase.
Size = Literal["auto", "1024x1024", "1536x1024", "1024x1536"]
OutputFormat = Literal["png", "jpeg", "webp"]
Quality = Literal["auto", "low", "medium", "high"]
SIZES = get_args(Size)
OUTPUT_FORMATS = get_args(OutputFormat)
QUALITIES = get_args(Quality)
QUOTA_REST_SECONDS = 3600.0
MODERATION_MESSAGE = "OpenAI refused the photo or prompt (moderation)"

# httpx's timeout ends a little after the deadline, so that under the pipeline its cancellation at
# the deadline (a 504) always comes first; the timeout matters only when nobody cancels.
_TIMEOUT_GRACE_SECONDS = 0.5
_EXTENSIONS_BY_TYPE = {CONTENT_TYPES[name]: extension for name, extension in EXTENSIONS.items()}


def _prompt_problem(prompt: str) -> str:
    return gettext("The prompt is required for OpenAI.")


def _model_problem(model: str) -> str:
    return gettext(
        "“%(model)s” is not an OpenAI model name: use letters, digits, dots, dashes "
        "and underscores only, such as %(example)s."
    ) % {"model": model, "example": DEFAULT_MODEL}


def _size_problem(size: str) -> str:
    return gettext("The size must be one of %(choices)s; leave it empty for auto.") % {
        "choices": ", ".join(SIZES)
    }


def _output_format_problem(output_format: str) -> str:
    return gettext("The output format must be one of %(choices)s; leave it empty for png.") % {
        "choices": ", ".join(OUTPUT_FORMATS)
    }


def _quality_problem(quality: str) -> str:
    return gettext(
        "The quality must be one of %(choices)s; leave it empty to let OpenAI choose."
    ) % {"choices": ", ".join(QUALITIES)}


def _lowercase(value: object) -> str:
    # OpenAI wants lowercase values; staff need not know that.
    return text_or_default(value).lower()


def _output_format_name(value: object) -> str:
    name = _lowercase(value)
    return "jpeg" if name == "jpg" else name


class OpenAISettings(ProviderSettings):
    provider = "openai"
    # A wrong prompt, model or address leaves nothing to call.
    lenient = frozenset({"size", "output_format", "quality", "max_attempts"})

    prompt: Annotated[str, Field(min_length=1), worded(_prompt_problem, normalised=text)] = Field(
        description="How OpenAI should edit the photo, with the template images as references"
    )
    model: Annotated[
        str,
        # A form field, not part of the URL, but a name outside this pattern is a typo.
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
        worded(_model_problem, normalised=text_or_default),
    ] = Field(DEFAULT_MODEL, description="The OpenAI image model")
    size: Annotated[Size, worded(_size_problem, normalised=_lowercase)] = Field(
        "auto", description="The image's size in pixels, auto to let OpenAI choose"
    )
    output_format: Annotated[
        OutputFormat, worded(_output_format_problem, normalised=_output_format_name)
    ] = Field("png", description="The image's file format, jpg read as jpeg")
    quality: Annotated[Quality | None, worded(_quality_problem, normalised=_lowercase)] = Field(
        None, description="The image's quality, empty to let OpenAI choose"
    )
    max_attempts: Attempts = Field(
        DEFAULT_MAX_ATTEMPTS,
        description="How many calls a job may make while OpenAI is rate-limited or failing",
    )

    # gpt-image-1 edits take 15-40 s.
    min_seconds: MinSeconds = Field(20, description=MIN_SECONDS_HELP)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/images/edits"


@dataclass(frozen=True)
class _Upload:
    """The multipart form of one edit: text fields, then the ``image[]`` file parts in order."""

    fields: dict[str, str]
    files: list[tuple[str, tuple[str, bytes, str]]]


class OpenAIProvider:
    name = "openai"
    operations = ("edit",)
    needs_public_urls = False
    needs_api_key = True
    settings_model = OpenAISettings

    def uses_template_images(self, operation: str) -> bool:
        return True

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        return ()  # template images are optional references

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        problems = {}
        if operation not in self.operations:
            problems[""] = gettext("OpenAI has no operation “%(operation)s”; use “edit”.") % {
                "operation": operation
            }
        return problems | OpenAISettings.problems(settings, operation=operation)

    async def process(self, request: ProviderRequest) -> ProviderResult:
        if request.operation not in self.operations:
            raise ProviderError(f"the openai provider has no operation {request.operation!r}")
        keys = request.key_ring("openai")
        if not keys.size:
            raise ProviderError("openai API key is not configured")
        options = OpenAISettings.for_call(request.settings, operation=request.operation)
        # Decoding and resizing a 12 MP photo take far too long for the event loop.
        upload = await run_image_work(_upload, request, options)
        return await with_retries(
            lambda: with_api_key(
                keys,
                lambda api_key: _attempt(
                    url=options.url, upload=upload, api_key=api_key, deadline=request.deadline
                ),
            ),
            provider="openai",
            job_id=request.job_id,
            max_attempts=options.max_attempts,
            deadline=request.deadline,
        )


async def _attempt(
    *, url: str, upload: _Upload, api_key: str, deadline: Deadline
) -> ProviderResult:
    headers = {"Authorization": f"Bearer {api_key}"}
    # httpx errors carry the request, headers and key included: chain none of them (from None).
    try:
        # Leaving the block closes the connection, also on cancellation: OpenAI sees the hang-up.
        timeout = deadline.remaining() + _TIMEOUT_GRACE_SECONDS
        async with provider_client(timeout=timeout) as client:
            response = await client.post(
                url, data=upload.fields, files=upload.files, headers=headers
            )
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        # Nothing reached OpenAI, so nothing was billed or started: safe to try again.
        raise RetryLater(f"cannot connect to openai ({error_description(error)})") from None
    except httpx.TimeoutException:
        raise ProviderError("openai did not answer in time", retryable=True) from None
    except httpx.TransportError as error:
        raise ProviderError(
            f"the connection to openai failed ({error_description(error)})", retryable=True
        ) from None
    if response.status_code != httpx.codes.OK:
        raise _http_error(response, api_key)
    # Parsing a few MB of JSON and base64 is CPU work too.
    return await run_image_work(_image_from_answer, response.content)


def _upload(request: ProviderRequest, options: OpenAISettings) -> _Upload:
    photo, photo_type = photo_for_provider(request.photo_path, request.photo_orientation)
    # The photo goes first: the edit is of the first image; templates are references.
    files = [("image[]", (_filename("photo", photo_type), photo, photo_type))]
    files += [
        (
            "image[]",
            (_filename(f"template-{number}", image.content_type), image.data, image.content_type),
        )
        for number, image in enumerate(request.template_images, start=1)
    ]
    fields = {
        "prompt": options.prompt,
        "model": options.model,
        "size": options.size,
        "output_format": options.output_format,
    }
    if options.quality:
        fields["quality"] = options.quality
    return _Upload(fields=fields, files=files)


def _filename(stem: str, content_type: str) -> str:
    # OpenAI judges a part by its filename and type; a missing extension gets it refused.
    return f"{stem}.{_EXTENSIONS_BY_TYPE.get(content_type, 'png')}"


def _http_error(response: httpx.Response, api_key: str) -> ProviderError:
    error = json_error_object(response)
    code = error.get("code") if isinstance(error.get("code"), str) else ""
    status = response.status_code
    if code == "moderation_blocked":
        return ProviderRefused(MODERATION_MESSAGE)
    if status == httpx.codes.UNAUTHORIZED:
        # OpenAI's 401 message quotes the start and end of the key it got: leave it out.
        return ApiKeyRefused(f"openai refused the API key (HTTP 401{f' {code}' if code else ''})")
    summary = f"openai answered HTTP {status}"
    if code:
        summary += f" {code}"
    message = error.get("message")
    if isinstance(message, str) and message:
        summary += f": {text_excerpt(message.replace(api_key, '[key]'))}"
    # A 429 for an exhausted quota or budget stays so until someone pays: that key rests an
    # hour (another key may go through at once), waiting cannot help.
    if status == httpx.codes.TOO_MANY_REQUESTS and code == "insufficient_quota":
        return RetryLater(summary, delay=QUOTA_REST_SECONDS, rate_limited=True)
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return RetryLater(summary, delay=_retry_after(response), rate_limited=True)
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return RetryLater(summary, delay=_retry_after(response))
    return ProviderError(summary)


def _retry_after(response: httpx.Response) -> float | None:
    # Seconds, possibly decimal; the HTTP-date form is not used by OpenAI and falls to backoff.
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _image_from_answer(content: bytes) -> ProviderResult:
    try:
        answer = json.loads(content)
    except ValueError:
        raise ProviderError("openai sent a malformed answer") from None
    data = answer.get("data") if isinstance(answer, dict) else None
    first = data[0] if isinstance(data, list) and data else None
    encoded = first.get("b64_json") if isinstance(first, dict) else None
    if not isinstance(encoded, str) or not encoded:
        raise ProviderError("openai sent no image (data[0].b64_json is missing)")
    try:
        image = base64.b64decode(encoded, validate=True)
        return ProviderResult(format=image_format(image), data=image)
    except (binascii.Error, ValueError):
        raise ProviderError("openai sent an image that is not a JPEG, PNG or WebP") from None
