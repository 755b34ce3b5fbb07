"""Turbotext: a queued job that fetches the photo (and a template image) by URL; one image out.

Turbotext does not take image bytes. It downloads the photo and templates from the provider-media
URLs the pipeline published, so the public base URL must be reachable from the internet. A call is
three steps: ``create_queue`` (form-encoded, ``Authorization: Bearer``) returns a queue id; we poll
``get_result`` every ``poll_seconds`` until it names the result image; then we download that image.

Jobs take tens of seconds, so a queue (first or retry) is created only while the deadline leaves
``min_queue_seconds``. Only failures before a job exists (overload, HTTP 429/5xx, ``provider_busy``)
start a new queue: once a queue runs, Turbotext has billed it, and we wait for it rather than pay
twice. Polls are idempotent, so a poll that fails in transit is simply asked again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urljoin, urlsplit

import httpx
from django.utils.translation import gettext
from pydantic import Field, ValidationInfo, field_validator, model_validator

from media.images import image_format
from providers.base import Deadline, ProviderError, ProviderRequest, ProviderResult
from providers.http import error_description, provider_client, text_excerpt
from providers.keys import ApiKeyRefused, with_api_key
from providers.retry import RetryLater, with_retries
from providers.settings import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_ATTEMPTS_LIMIT,
    MIN_SECONDS_HELP,
    MinSeconds,
    ProviderSettings,
    Text,
    number_or_default,
    problem,
    text,
    worded,
)

logger = logging.getLogger(__name__)

OPERATIONS = ("generate_image2image", "mix_images", "deepfake_photo")
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 10.0
MAX_MIN_QUEUE_SECONDS = 120.0
MAX_STRENGTH = 80

# Which operations read which template image, by role.
_TEMPLATE_ROLES = {"mix_images": "style", "deepfake_photo": "background"}
_RETRY_STATUSES = frozenset({408, 425, 429})
# A result URL can answer 404 for a moment after get_result names it (the file is still being
# copied to Turbotext's storage), so a few failed downloads are tried again.
_MAX_DOWNLOAD_ATTEMPTS = 5
# The client's timeout ends a little after the deadline, so that under the pipeline its
# cancellation at the deadline (a 504) always comes first.
_TIMEOUT_GRACE_SECONDS = 0.5

# Turbotext's error strings and what staff should read; the bool says whether a new queue may help.
_KNOWN_ERRORS: dict[str, tuple[str, bool]] = {
    "limit": ("the turbotext account has reached its limit (out of credits)", False),
    "url_error": (
        "turbotext could not download the photo or template image: is the public base URL "
        "reachable from the internet?",
        False,
    ),
    "face_not_detected": ("turbotext found no face in the photo", False),
    "provider_busy": ("turbotext is busy", True),
}


def _strength_problem(strength: object) -> str:
    return gettext("strength must be a whole number from 0 to %(high)s") % {"high": MAX_STRENGTH}


def _number_problem(name: str) -> Callable[[object], str]:
    def message(value: object) -> str:
        return gettext("%(name)s must be a number") % {"name": name}

    return message


def _face_restore_problem(face_restore: object) -> str:
    return gettext("face_restore must be true or false")


def _poll_seconds_problem(seconds: object) -> str:
    return gettext("poll_seconds must be a number from %(low)s to %(high)s") % {
        "low": MIN_POLL_SECONDS,
        "high": f"{MAX_POLL_SECONDS:g}",
    }


def _min_queue_seconds_problem(seconds: object) -> str:
    return gettext("min_queue_seconds must be a number from 0 to 120")


def _max_attempts_problem(attempts: object) -> str:
    return gettext("max_attempts must be a whole number from 1 to %(high)s") % {
        "high": MAX_ATTEMPTS_LIMIT
    }


# Turbotext's numbers may be written as text ("40", "0.5"): slots have been saved that way.
_Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_Whole = Annotated[int, Field(strict=True)]


class TurbotextSettings(ProviderSettings):
    provider = "turbotext"
    # Any wrong setting refuses the call: a queue is billed, and a wrong one is money lost.

    content: Text = Field(
        "",
        validate_default=True,
        description="The prompt, required for generate_image2image (a prompt setting is read "
        "when content is empty)",
    )
    strength: Annotated[
        _Whole,
        Field(ge=0, le=MAX_STRENGTH),
        worded(_strength_problem, normalised=number_or_default),
    ] = Field(40, description="How far generate_image2image may stray from the photo")
    seed: Annotated[
        _Number | None, worded(_number_problem("seed"), normalised=number_or_default)
    ] = Field(None, description="The random seed of generate_image2image, empty for a random one")
    scale: Annotated[
        _Number | None, worded(_number_problem("scale"), normalised=number_or_default)
    ] = Field(None, description="How closely generate_image2image follows the prompt")
    negative_prompt: Text = Field("", description="What generate_image2image should avoid")
    original_language: Text = Field(
        "", description="The prompt's language, for generate_image2image"
    )
    face_restore: Annotated[bool, Field(strict=True), worded(_face_restore_problem)] = Field(
        True, description="Whether deepfake_photo restores the face's detail"
    )
    poll_seconds: Annotated[
        _Number,
        Field(ge=MIN_POLL_SECONDS, le=MAX_POLL_SECONDS),
        worded(_poll_seconds_problem, normalised=number_or_default),
    ] = Field(
        2.0,
        description="Seconds between questions about a queued job, and the first wait before "
        "a new queue",
    )
    min_queue_seconds: Annotated[
        _Number,
        Field(ge=0, le=MAX_MIN_QUEUE_SECONDS),
        worded(_min_queue_seconds_problem, normalised=number_or_default),
    ] = Field(
        10.0,
        description="The seconds that must remain before the deadline to create a queue, "
        "first or retry",
    )
    max_attempts: Annotated[
        _Whole,
        Field(ge=1, le=MAX_ATTEMPTS_LIMIT),
        worded(_max_attempts_problem, normalised=number_or_default),
    ] = Field(
        DEFAULT_MAX_ATTEMPTS,
        description="How many queues a job may create while Turbotext is busy",
    )

    # A queued job takes 10-30 s.
    min_seconds: MinSeconds = Field(10, description=MIN_SECONDS_HELP)

    @model_validator(mode="before")
    @classmethod
    def _prompt_as_content(cls, data: Any) -> Any:
        # ``prompt`` is what the other providers call it; a slot switched to turbotext keeps
        # working.
        if isinstance(data, dict) and not text(data.get("content")):
            return data | {"content": data.get("prompt")}
        return data

    @field_validator("content")
    @classmethod
    def _prompt_for_generate(cls, content: str, info: ValidationInfo) -> str:
        operation = info.context.get("operation") if info.context else None
        if operation == "generate_image2image" and not content:
            raise problem(gettext("generate_image2image needs a prompt (content)"))
        return content


@dataclass(frozen=True)
class _Call:
    """One ``process`` call's fixed parts: where to send, with which key, until when."""

    client: httpx.AsyncClient
    options: TurbotextSettings
    method: str
    api_key: str
    deadline: Deadline
    job_id: str

    @property
    def url(self) -> str:
        return f"{self.options.base_url}/api_ai/{self.method}"

    async def post(self, fields: dict[str, str]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return await self.client.post(self.url, data=fields, headers=headers)


class TurbotextProvider:
    name = "turbotext"
    operations = OPERATIONS
    needs_public_urls = True
    needs_api_key = True
    settings_model = TurbotextSettings

    def uses_template_images(self, operation: str) -> bool:
        return operation in _TEMPLATE_ROLES

    def required_template_roles(self, operation: str) -> tuple[str, ...]:
        return (_TEMPLATE_ROLES[operation],) if operation in _TEMPLATE_ROLES else ()

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        # Worded in the active language: staff read these on the slot page.
        problems: dict[str, str] = {}
        if operation not in OPERATIONS:
            problems[""] = gettext(
                "turbotext has no operation %(operation)s; use one of %(choices)s"
            ) % {"operation": repr(operation), "choices": ", ".join(OPERATIONS)}
        return problems | TurbotextSettings.problems(settings, operation=operation)

    async def process(self, request: ProviderRequest) -> ProviderResult:
        if request.operation not in OPERATIONS:
            raise ProviderError(f"the turbotext provider has no operation {request.operation!r}")
        keys = request.key_ring("turbotext")
        if not keys.size:
            raise ProviderError("turbotext API key is not configured")
        options = TurbotextSettings.for_call(request.settings, operation=request.operation)
        fields = _queue_fields(request, options)
        timeout = request.deadline.remaining() + _TIMEOUT_GRACE_SECONDS
        # Leaving the block closes any open connection, also on cancellation: a poll held open
        # by Turbotext ends when nobody waits for the answer anymore.
        async with provider_client(timeout=timeout) as client:
            call = _Call(
                client=client,
                options=options,
                method=request.operation,
                api_key="",  # each queue's own, from the keys
                deadline=request.deadline,
                job_id=request.job_id,
            )
            # A queue takes tens of seconds: none is created (the first one included) unless
            # min_queue_seconds remain, and a new one waits from poll_seconds up.
            return await with_retries(
                lambda: with_api_key(
                    keys, lambda api_key: _queue_run(replace(call, api_key=api_key), fields)
                ),
                provider="turbotext",
                job_id=request.job_id,
                max_attempts=options.max_attempts,
                deadline=request.deadline,
                first_backoff=options.poll_seconds,
                attempt_seconds=options.min_queue_seconds,
                first_attempt_seconds=options.min_queue_seconds,
            )


def _queue_fields(request: ProviderRequest, options: TurbotextSettings) -> dict[str, str]:
    """The ``create_queue`` form for the slot's operation, from its settings and image URLs."""
    if not request.photo_url:
        raise ProviderError(
            "turbotext downloads the photo from this server, but the public base URL setting "
            "is not configured"
        )
    fields = {"do": "create_queue"}
    if request.operation == "generate_image2image":
        fields["url"] = request.photo_url
        fields["content"] = options.content
        fields["strength"] = str(options.strength)
        for name, number in (("seed", options.seed), ("scale", options.scale)):
            if number is not None:
                fields[name] = _form_number(number)
        for name, text_value in (
            ("negative_prompt", options.negative_prompt),
            ("original_language", options.original_language),
        ):
            if text_value:
                fields[name] = text_value
    elif request.operation == "mix_images":
        # The guest's photo is what gets restyled; the style template is the look to take.
        fields["url_image_target"] = request.photo_url
        fields["url"] = _template_url(request, "style")
        if options.content:
            fields["content"] = options.content
    else:
        # deepfake_photo puts the face from ``url_image_target`` into the picture at ``url``.
        # The guest is the face donor and the slot's background template is the scene, so the
        # guest photo goes into url_image_target (as in mix_images) and the template into url.
        fields["url"] = _template_url(request, "background")
        fields["url_image_target"] = request.photo_url
        fields["face_restore"] = "True" if options.face_restore else "False"
    return fields


def _template_url(request: ProviderRequest, role: str) -> str:
    templates = request.templates_with_role(role)
    if not templates:
        raise ProviderError(
            f"{request.operation} needs a template image with the role {role!r} on the slot"
        )
    # The newest upload wins, as in the local provider's frame operation.
    url = templates[-1].url
    if not url:
        raise ProviderError(
            "turbotext downloads the template image from this server, but the public base URL "
            "setting is not configured"
        )
    return url


async def _queue_run(call: _Call, fields: dict[str, str]) -> ProviderResult:
    """One attempt: a new queue, waited for, and its result downloaded."""
    queue_id = await _create_queue(call, fields)
    image_url = await _wait_for_result(call, queue_id)
    return await _download(call, image_url)


async def _create_queue(call: _Call, fields: dict[str, str]) -> str:
    # httpx errors carry the request, key header included: chain none of them (from None).
    try:
        response = await call.post(fields)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        # Nothing reached Turbotext, so no job was started or billed: safe to try again.
        raise RetryLater(f"cannot connect to turbotext ({error_description(error)})") from None
    except httpx.TimeoutException:
        raise ProviderError("turbotext did not answer in time", retryable=True) from None
    except httpx.TransportError as error:
        # The form may have arrived and started a billed job: no second queue.
        raise ProviderError(
            f"the connection to turbotext failed ({error_description(error)})", retryable=True
        ) from None
    _check_status(response, call.api_key)
    answer = _json_object(response)
    if not _succeeded(answer):
        raise _refusal(answer, call.api_key)
    queue_id = answer.get("queueid")
    if isinstance(queue_id, bool) or not isinstance(queue_id, int | str) or not str(queue_id):
        raise ProviderError("turbotext created no queue (the answer has no queueid)")
    logger.info("turbotext queue %s created for job %s (%s)", queue_id, call.job_id, call.method)
    return str(queue_id)


async def _wait_for_result(call: _Call, queue_id: str) -> str:
    """Poll ``get_result`` until it names the image; return the image's absolute URL."""
    fields = {"do": "get_result", "queueid": queue_id}
    while True:
        # The job takes seconds at best: asking at once would only cost a request.
        await asyncio.sleep(min(call.options.poll_seconds, call.deadline.remaining()))
        if call.deadline.remaining() <= 0:
            raise ProviderError(
                f"turbotext did not finish in time (queue {queue_id})", retryable=True
            )
        try:
            response = await call.post(fields)
        except httpx.TimeoutException:
            raise ProviderError(
                f"turbotext did not finish in time (queue {queue_id})", retryable=True
            ) from None
        except httpx.TransportError as error:
            logger.warning(
                "turbotext poll of queue %s for job %s failed (%s); asking again",
                queue_id,
                call.job_id,
                error_description(error),
            )
            continue
        if response.status_code in _RETRY_STATUSES or response.status_code >= 500:
            logger.warning(
                "turbotext poll of queue %s for job %s answered HTTP %d; asking again",
                queue_id,
                call.job_id,
                response.status_code,
            )
            continue
        _check_status(response, call.api_key)
        answer = _json_object(response)
        if answer.get("action") == "reconnect":
            continue
        if _succeeded(answer):
            # A success without an image has been seen while the result is being saved.
            image_url = _image_url(answer)
            if image_url is not None:
                return _absolute_result_url(call.options.base_url, image_url)
            continue
        if _error_text(answer) or "success" in answer:
            raise _refusal(answer, call.api_key)
        raise ProviderError(
            f"turbotext sent an answer without success or action: {text_excerpt(response.text)}"
        )


def _image_url(answer: dict) -> str | None:
    data = answer.get("data")
    data = data if isinstance(data, dict) else {}
    images = data.get("image")
    first = images[0] if isinstance(images, list) and images else images
    for candidate in (answer.get("uploaded_image"), data.get("uploaded_image"), first):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None


def _absolute_result_url(base_url: str, image_url: str) -> str:
    # data.image holds paths such as "/image/…" on Turbotext's own host.
    url = urljoin(f"{base_url}/", image_url)
    if not _is_web_url(url):
        raise ProviderError(f"turbotext named a result that is not a web URL: {text_excerpt(url)}")
    return url


async def _download(call: _Call, url: str) -> ProviderResult:
    wait = call.options.poll_seconds
    attempt = 1
    while True:
        try:
            # The result is public and may sit on another host, so no key is sent, and
            # following a redirect (to a CDN) cannot leak it.
            response = await call.client.get(url, follow_redirects=True)
        except httpx.TimeoutException:
            raise ProviderError(
                "the turbotext result did not download in time", retryable=True
            ) from None
        except httpx.TransportError as error:
            failure, worth_retrying = error_description(error), True
        else:
            if response.status_code == httpx.codes.OK:
                try:
                    return ProviderResult(
                        format=image_format(response.content), data=response.content
                    )
                except ValueError:
                    raise ProviderError(
                        "turbotext's result is not a JPEG, PNG or WebP image"
                    ) from None
            status = response.status_code
            failure = f"HTTP {status}"
            worth_retrying = status == 404 or status in _RETRY_STATUSES or status >= 500
        if (
            not worth_retrying
            or attempt >= _MAX_DOWNLOAD_ATTEMPTS
            or call.deadline.remaining() <= wait
        ):
            raise ProviderError(f"cannot download the turbotext result ({failure})")
        logger.warning(
            "downloading the turbotext result for job %s failed (%s); trying again in %.2f s",
            call.job_id,
            failure,
            wait,
        )
        await asyncio.sleep(wait)
        attempt += 1


def _check_status(response: httpx.Response, api_key: str) -> None:
    status = response.status_code
    if status in _RETRY_STATUSES or status >= 500:
        raise RetryLater(f"turbotext answered HTTP {status}", rate_limited=status == 429)
    if status in (401, 403):
        raise ApiKeyRefused(f"turbotext refused the API key (HTTP {status})")
    if not 200 <= status < 300:
        detail = _error_text(_json_object(response, strict=False))
        summary = f"turbotext answered HTTP {status}"
        raise ProviderError(f"{summary}: {_redacted(detail, api_key)}" if detail else summary)


def _json_object(response: httpx.Response, *, strict: bool = True) -> dict:
    # Turbotext's Content-Type is not always JSON's, so the body decides.
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        return answer
    if strict:
        raise ProviderError(f"turbotext sent a malformed answer: {text_excerpt(response.text)}")
    return {}


def _succeeded(answer: dict) -> bool:
    success = answer.get("success")
    return success is True or success == 1 or str(success).lower() == "true"


def _error_text(answer: dict) -> str:
    for name in ("error", "message", "errors"):
        value = answer.get(name)
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            # Validation errors may come as {"field": ["problem", …]}: one level is flattened.
            items = [
                part for item in value for part in (item if isinstance(item, list) else [item])
            ]
            value = "; ".join(str(item) for item in items if item)
        if value and not isinstance(value, bool):
            return str(value).strip()
    return ""


def _refusal(answer: dict, api_key: str) -> ProviderError:
    code = _error_text(answer)
    if not code:
        return ProviderError("turbotext refused the request without saying why")
    known = _KNOWN_ERRORS.get(code.casefold())
    if known is None:
        return ProviderError(f"turbotext refused the request: {_redacted(code, api_key)}")
    message, retryable = known
    return RetryLater(f"{message} ({code})") if retryable else ProviderError(f"{message} ({code})")


def _redacted(text: str, api_key: str) -> str:
    # Turbotext does not echo keys that we know of; an error message is still never a place for one.
    return text_excerpt(text.replace(api_key, "[key]") if api_key else text)


def _form_number(number: float) -> str:
    # Whole numbers go as "7", not "7.0": Turbotext's seed is an integer.
    return str(int(number)) if number.is_integer() else str(number)


def _is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)
