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
import re
from dataclasses import dataclass

import httpx
from django.utils.translation import gettext

from media.images import CONTENT_TYPES, EXTENSIONS, image_format
from photochanger.executors import run_image_work
from providers.base import (
    Deadline,
    ProviderError,
    ProviderRequest,
    ProviderResult,
)
from providers.http import error_description, json_error_object, provider_client, text_excerpt
from providers.photos import photo_for_provider
from providers.retry import RetryLater, with_retries
from providers.settings import attempts_setting, is_http_url, options_or_error, text_setting

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-image-1"
DEFAULT_BASE_URL = "https://api.openai.com"
DEFAULT_SIZE = "auto"
DEFAULT_OUTPUT_FORMAT = "png"
SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
QUALITIES = ("auto", "low", "medium", "high")
MODERATION_MESSAGE = "OpenAI refused the photo or prompt (moderation)"
# Settings without which there is no call; any other wrong setting falls back to its default.
_REQUIRED = ("prompt", "model", "base_url")

# The model is a form field, not part of the URL, but a name outside this pattern is a typo.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# httpx's timeout ends a little after the deadline, so that under the pipeline its cancellation at
# the deadline (a 504) always comes first; the timeout matters only when nobody cancels.
_TIMEOUT_GRACE_SECONDS = 0.5
_EXTENSIONS_BY_TYPE = {CONTENT_TYPES[name]: extension for name, extension in EXTENSIONS.items()}


@dataclass(frozen=True)
class _Options:
    prompt: str
    model: str
    base_url: str
    size: str
    output_format: str
    quality: str
    max_attempts: int

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

    def uses_template_images(self, operation: str) -> bool:
        return True

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        problems = {}
        if operation not in self.operations:
            problems[""] = gettext("OpenAI has no operation “%(operation)s”; use “edit”.") % {
                "operation": operation
            }
        _, setting_problems = _settings_read(settings)
        return problems | setting_problems

    async def process(self, request: ProviderRequest) -> ProviderResult:
        if request.operation not in self.operations:
            raise ProviderError(f"the openai provider has no operation {request.operation!r}")
        if not request.api_key:
            raise ProviderError("openai API key is not configured")
        options = _options(request.settings)
        # Decoding and resizing a 12 MP photo take far too long for the event loop.
        upload = await run_image_work(_upload, request, options)
        return await with_retries(
            lambda: _attempt(
                url=options.url,
                upload=upload,
                api_key=request.api_key,
                deadline=request.deadline,
            ),
            provider="openai",
            job_id=request.job_id,
            max_attempts=options.max_attempts,
            deadline=request.deadline,
        )


def _options(settings: dict) -> _Options:
    return options_or_error(_settings_read, settings, required=_REQUIRED)


def _settings_read(settings: dict) -> tuple[_Options | None, dict[str, str]]:
    """The slot's settings as call options, and what is wrong with them by setting name, worded
    for event staff (in the active language). The options are None when a setting in
    ``_REQUIRED`` is wrong; any other wrong setting falls back to its default."""
    problems: dict[str, str] = {}
    prompt = text_setting(settings, "prompt")
    if not prompt:
        problems["prompt"] = gettext("The prompt is required for OpenAI.")
    model = text_setting(settings, "model") or DEFAULT_MODEL
    if not _MODEL_NAME.fullmatch(model):
        problems["model"] = gettext(
            "“%(model)s” is not an OpenAI model name: use letters, digits, dots, dashes "
            "and underscores only, such as %(example)s."
        ) % {"model": model, "example": DEFAULT_MODEL}
    base_url = (text_setting(settings, "base_url") or DEFAULT_BASE_URL).rstrip("/")
    if not is_http_url(base_url):
        problems["base_url"] = gettext(
            "The base URL must be an http:// or https:// address, such as %(example)s."
        ) % {"example": DEFAULT_BASE_URL}
    # OpenAI wants lowercase values; staff need not know that.
    size = text_setting(settings, "size").lower()
    if size and size not in SIZES:
        problems["size"] = gettext(
            "The size must be one of %(choices)s; leave it empty for auto."
        ) % {"choices": ", ".join(SIZES)}
        size = ""
    output_format = text_setting(settings, "output_format").lower()
    output_format = "jpeg" if output_format == "jpg" else output_format
    if output_format and output_format not in OUTPUT_FORMATS:
        problems["output_format"] = gettext(
            "The output format must be one of %(choices)s; leave it empty for png."
        ) % {"choices": ", ".join(OUTPUT_FORMATS)}
        output_format = ""
    quality = text_setting(settings, "quality").lower()
    if quality and quality not in QUALITIES:
        problems["quality"] = gettext(
            "The quality must be one of %(choices)s; leave it empty to let OpenAI choose."
        ) % {"choices": ", ".join(QUALITIES)}
        quality = ""
    max_attempts = attempts_setting(settings, problems)
    if problems.keys() & set(_REQUIRED):
        return None, problems
    options = _Options(
        prompt=prompt,
        model=model,
        base_url=base_url,
        size=size or DEFAULT_SIZE,
        output_format=output_format or DEFAULT_OUTPUT_FORMAT,
        quality=quality,
        max_attempts=max_attempts,
    )
    return options, problems


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


def _upload(request: ProviderRequest, options: _Options) -> _Upload:
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
        return ProviderError(MODERATION_MESSAGE)
    if status == httpx.codes.UNAUTHORIZED:
        # OpenAI's 401 message quotes the start and end of the key it got: leave it out.
        return ProviderError(f"openai refused the API key (HTTP 401{f' {code}' if code else ''})")
    summary = f"openai answered HTTP {status}"
    if code:
        summary += f" {code}"
    message = error.get("message")
    if isinstance(message, str) and message:
        summary += f": {text_excerpt(message.replace(api_key, '[key]'))}"
    # A 429 for an exhausted quota or budget stays so until someone pays; waiting cannot help.
    if status == httpx.codes.TOO_MANY_REQUESTS and code == "insufficient_quota":
        return ProviderError(summary)
    if status == httpx.codes.TOO_MANY_REQUESTS or status >= httpx.codes.INTERNAL_SERVER_ERROR:
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
