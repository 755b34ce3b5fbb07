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
import math
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from django.utils import translation
from django.utils.translation import gettext

from media.images import image_format
from providers.base import Deadline, ProviderError, ProviderRequest, ProviderResult
from providers.http import error_description, provider_client, text_excerpt

logger = logging.getLogger(__name__)

OPERATIONS = ("generate_image2image", "mix_images", "deepfake_photo")
DEFAULT_BASE_URL = "https://www.turbotext.ru"
DEFAULT_POLL_SECONDS = 2.0
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 10.0
DEFAULT_MIN_QUEUE_SECONDS = 10.0
DEFAULT_STRENGTH = 40
MAX_STRENGTH = 80
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10

# Which operations read which template image, by role.
_TEMPLATE_ROLES = {"mix_images": "style", "deepfake_photo": "background"}
_RETRY_STATUSES = frozenset({408, 425, 429})
# A result URL can answer 404 for a moment after get_result names it (the file is still being
# copied to Turbotext's storage), so a few failed downloads are tried again.
_MAX_DOWNLOAD_ATTEMPTS = 5
_MAX_BACKOFF_SECONDS = 8.0
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


class _RetryLater(ProviderError):
    """A failure before any job ran at Turbotext: a new queue may succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@dataclass(frozen=True)
class _Options:
    base_url: str
    poll_seconds: float
    min_queue_seconds: float
    max_attempts: int


@dataclass(frozen=True)
class _Call:
    """One ``process`` call's fixed parts: where to send, with which key, until when."""

    client: httpx.AsyncClient
    options: _Options
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

    def uses_template_images(self, operation: str) -> bool:
        return operation in _TEMPLATE_ROLES

    def settings_problems(self, operation: str, settings: dict) -> dict[str, str]:
        # Worded in the active language: staff read these on the slot page.
        problems: dict[str, str] = {}
        if operation not in OPERATIONS:
            problems[""] = gettext(
                "turbotext has no operation %(operation)s; use one of %(choices)s"
            ) % {"operation": repr(operation), "choices": ", ".join(OPERATIONS)}
        if operation == "generate_image2image" and not _prompt(settings):
            problems["content"] = gettext("generate_image2image needs a prompt (content)")
        strength = settings.get("strength")
        if _present(strength) and _whole_number(strength, 0, MAX_STRENGTH) is None:
            problems["strength"] = gettext("strength must be a whole number from 0 to %(high)s") % {
                "high": MAX_STRENGTH
            }
        for name in ("seed", "scale"):
            if _present(settings.get(name)) and _number(settings[name]) is None:
                problems[name] = gettext("%(name)s must be a number") % {"name": name}
        if "face_restore" in settings and not isinstance(settings["face_restore"], bool):
            problems["face_restore"] = gettext("face_restore must be true or false")
        poll = settings.get("poll_seconds")
        if _present(poll) and not _in_range(poll, MIN_POLL_SECONDS, MAX_POLL_SECONDS):
            problems["poll_seconds"] = gettext(
                "poll_seconds must be a number from %(low)s to %(high)s"
            ) % {"low": MIN_POLL_SECONDS, "high": f"{MAX_POLL_SECONDS:g}"}
        min_queue = settings.get("min_queue_seconds")
        if _present(min_queue) and not _in_range(min_queue, 0, 120):
            problems["min_queue_seconds"] = gettext(
                "min_queue_seconds must be a number from 0 to 120"
            )
        attempts = settings.get("max_attempts")
        if _present(attempts) and _whole_number(attempts, 1, MAX_ATTEMPTS_LIMIT) is None:
            problems["max_attempts"] = gettext(
                "max_attempts must be a whole number from 1 to %(high)s"
            ) % {"high": MAX_ATTEMPTS_LIMIT}
        base_url = settings.get("base_url")
        if _present(base_url) and not _is_web_url(base_url):
            problems["base_url"] = gettext("base_url must be an http:// or https:// URL")
        return problems

    async def process(self, request: ProviderRequest) -> ProviderResult:
        if request.operation not in OPERATIONS:
            raise ProviderError(f"the turbotext provider has no operation {request.operation!r}")
        if not request.api_key:
            raise ProviderError("turbotext API key is not configured")
        # The job's failure details stay English (the booth's operators read them in logs),
        # even when a staff member's test run is served in another language.
        with translation.override(None):
            problems = self.settings_problems(request.operation, request.settings)
        if problems:
            listed = "; ".join(problems.values())
            raise ProviderError(f"the slot's turbotext settings are not valid: {listed}")
        fields = _queue_fields(request)
        options = _options(request.settings)
        timeout = request.deadline.remaining() + _TIMEOUT_GRACE_SECONDS
        # Leaving the block closes any open connection, also on cancellation: a poll held open
        # by Turbotext ends when nobody waits for the answer anymore.
        async with provider_client(timeout=timeout) as client:
            call = _Call(
                client=client,
                options=options,
                method=request.operation,
                api_key=request.api_key,
                deadline=request.deadline,
                job_id=request.job_id,
            )
            return await _run_with_retries(call, fields)


def _queue_fields(request: ProviderRequest) -> dict[str, str]:
    """The ``create_queue`` form for the slot's operation, from its settings and image URLs."""
    if not request.photo_url:
        raise ProviderError(
            "turbotext downloads the photo from this server, but the public base URL setting "
            "is not configured"
        )
    settings = request.settings
    fields = {"do": "create_queue"}
    if request.operation == "generate_image2image":
        fields["url"] = request.photo_url
        fields["content"] = _prompt(settings)
        strength = settings.get("strength")
        fields["strength"] = str(
            _whole_number(strength, 0, MAX_STRENGTH) if _present(strength) else DEFAULT_STRENGTH
        )
        for name in ("seed", "scale"):
            if _present(settings.get(name)):
                fields[name] = _form_number(settings[name])
        for name in ("negative_prompt", "original_language"):
            text = str(settings.get(name) or "").strip()
            if text:
                fields[name] = text
    elif request.operation == "mix_images":
        # The guest's photo is what gets restyled; the style template is the look to take.
        fields["url_image_target"] = request.photo_url
        fields["url"] = _template_url(request, "style")
        if prompt := _prompt(settings):
            fields["content"] = prompt
    else:
        # deepfake_photo puts the face from ``url_image_target`` into the picture at ``url``.
        # The guest is the face donor and the slot's background template is the scene, so the
        # guest photo goes into url_image_target (as in mix_images) and the template into url.
        fields["url"] = _template_url(request, "background")
        fields["url_image_target"] = request.photo_url
        fields["face_restore"] = "1" if settings.get("face_restore", True) else "0"
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


def _options(settings: dict) -> _Options:
    poll = settings.get("poll_seconds")
    min_queue = settings.get("min_queue_seconds")
    attempts = settings.get("max_attempts")
    return _Options(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/"),
        poll_seconds=_number(poll) if _present(poll) else DEFAULT_POLL_SECONDS,
        min_queue_seconds=_number(min_queue) if _present(min_queue) else DEFAULT_MIN_QUEUE_SECONDS,
        max_attempts=(
            _whole_number(attempts, 1, MAX_ATTEMPTS_LIMIT)
            if _present(attempts)
            else DEFAULT_MAX_ATTEMPTS
        ),
    )


async def _run_with_retries(call: _Call, fields: dict[str, str]) -> ProviderResult:
    options = call.options
    left = call.deadline.remaining()
    if left < options.min_queue_seconds:
        raise ProviderError(
            f"not enough time left for a turbotext job ({left:.1f} s left, "
            f"min_queue_seconds is {options.min_queue_seconds:g})",
            retryable=True,
        )
    attempt = 1
    while True:
        try:
            queue_id = await _create_queue(call, fields)
            image_url = await _wait_for_result(call, queue_id)
            return await _download(call, image_url)
        except _RetryLater as failure:
            wait = min(_MAX_BACKOFF_SECONDS, options.poll_seconds * 2 ** (attempt - 1))
            if attempt >= options.max_attempts:
                after = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise ProviderError(f"{failure}{after}", retryable=True) from None
            if call.deadline.remaining() - wait < options.min_queue_seconds:
                raise ProviderError(
                    f"{failure}; not enough time left for another turbotext job", retryable=True
                ) from None
            logger.warning(
                "turbotext attempt %d of %d for job %s failed (%s); new queue in %.1f s",
                attempt,
                options.max_attempts,
                call.job_id,
                failure,
                wait,
            )
        await asyncio.sleep(wait)
        attempt += 1


async def _create_queue(call: _Call, fields: dict[str, str]) -> str:
    # httpx errors carry the request, key header included: chain none of them (from None).
    try:
        response = await call.post(fields)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        # Nothing reached Turbotext, so no job was started or billed: safe to try again.
        raise _RetryLater(f"cannot connect to turbotext ({error_description(error)})") from None
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
        raise _RetryLater(f"turbotext answered HTTP {status}")
    if status in (401, 403):
        raise ProviderError(f"turbotext refused the API key (HTTP {status})")
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
    return _RetryLater(f"{message} ({code})") if retryable else ProviderError(f"{message} ({code})")


def _redacted(text: str, api_key: str) -> str:
    # Turbotext does not echo keys that we know of; an error message is still never a place for one.
    return text_excerpt(text.replace(api_key, "[key]") if api_key else text)


def _prompt(settings: dict) -> str:
    # ``prompt`` is what the other providers call it; a slot switched to turbotext keeps working.
    return str(settings.get("content") or settings.get("prompt") or "").strip()


def _present(value: object) -> bool:
    return value is not None and value != ""


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _whole_number(value: object, low: int, high: int) -> int | None:
    number = _number(value)
    if number is None or not number.is_integer() or not low <= number <= high:
        return None
    return int(number)


def _in_range(value: object, low: float, high: float) -> bool:
    number = _number(value)
    return number is not None and low <= number <= high


def _form_number(value: object) -> str:
    number = _number(value)
    # Whole numbers go as "7", not "7.0": Turbotext's seed is an integer.
    return str(int(number)) if number is not None and number.is_integer() else str(number)


def _is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)
