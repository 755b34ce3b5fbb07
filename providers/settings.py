"""Reading a slot's provider settings: the pieces the Gemini and OpenAI drivers read alike.

A driver's ``_settings_read(settings)`` returns its call options and what is wrong with them,
worded for event staff; a required setting that is wrong means no options at all, any other falls
back to its default so guests still get an image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from django.utils import translation
from django.utils.translation import gettext

from providers.base import ProviderError

DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10

Options = TypeVar("Options")


def options_or_error(
    read: Callable[[dict], tuple[Options | None, dict[str, str]]],
    settings: dict,
    *,
    required: tuple[str, ...],
) -> Options:
    """The options of a call, or ProviderError naming what is wrong with a required setting."""
    # The problems become the job's failure details, which stay English (the booth's operators
    # read them in logs) even when a staff member's test run is served in another language.
    with translation.override(None):
        options, problems = read(settings)
    if options is None:
        raise ProviderError(" ".join(problems[name] for name in required if name in problems))
    return options


def text_setting(settings: dict, name: str) -> str:
    value = settings.get(name)
    return "" if value is None else str(value).strip()


def is_http_url(url: str) -> bool:
    # The URL is the start of every call's address, so a query or fragment would swallow the path.
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 address
        return False
    return (
        parts.scheme in ("http", "https")
        and has_host
        and not any(character in "?#" or character.isspace() for character in url)
    )


def int_between(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def attempts_setting(settings: dict, problems: dict[str, str]) -> int:
    """How many calls a job may make; a wrong value is recorded in ``problems`` and read
    leniently: "5" is 5, 50 is the limit, nonsense the default."""
    value = settings.get("max_attempts")
    if value is None or value == "":
        return DEFAULT_MAX_ATTEMPTS
    if int_between(value, 1, MAX_ATTEMPTS_LIMIT):
        return value
    problems["max_attempts"] = gettext(
        "The number of attempts must be a whole number from 1 to %(limit)s."
    ) % {"limit": MAX_ATTEMPTS_LIMIT}
    try:
        attempts = int(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_MAX_ATTEMPTS
    return max(1, min(MAX_ATTEMPTS_LIMIT, attempts))
