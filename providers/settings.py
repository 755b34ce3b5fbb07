"""A provider's slot settings, declared once as a pydantic model.

Each driver declares a ``ProviderSettings`` subclass: names, types, defaults, bounds and a
description per setting. That model checks a slot's settings when staff save it (``problems``,
worded for them in the active language), reads the options of a call (``for_call``), and gives the
settings' JSON schema and the admin's help text (``providers.schema``).

A setting's problem is one sentence for event staff, not pydantic's English: ``worded`` turns any
failure of a declared type and bounds into the driver's own message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Self

from django.conf import settings as django_settings
from django.utils import translation
from django.utils.translation import gettext
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticUseDefault

from providers.base import ProviderError

DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10

# The validation context of a call (``for_call``), as opposed to staff saving a slot.
_CALL = "call"


def _min_seconds_problem(value: object) -> str:
    return gettext("min_seconds must be a whole number of seconds from 0 to 120.")


def _base_url_refused(provider: str) -> str:
    return gettext(
        "base_url is no longer a slot setting: the provider's API key would go to that address. "
        "Remove it; the server's owner sets %(variable)s in its environment instead."
    ) % {"variable": f"{provider.upper()}_BASE_URL"}


def _problems_of(error: ValidationError) -> dict[str, str]:
    # Problems of the settings as a whole (not a JSON object) have no setting's name.
    return {str(line["loc"][0]) if line["loc"] else "": line["msg"] for line in error.errors()}


def problem(message: str) -> PydanticCustomError:
    """A setting's problem as pydantic reports it, with ``message`` as its text."""
    # The message goes in as context, not as the template: a value quoted in it may hold braces.
    return PydanticCustomError("setting", "{message}", {"message": message})


def worded(
    message: Callable[[Any], str], *, normalised: Callable[[Any], Any] = lambda value: value
) -> WrapValidator:
    """Validation as declared, with any failure worded for event staff: ``message`` of the
    normalised value, called then so that it speaks the active language. ``normalised`` runs
    first; it may raise PydanticUseDefault when the value stands for the default."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        value = normalised(value)
        try:
            return handler(value)
        except ValidationError:
            raise problem(message(value)) from None

    return WrapValidator(validate)


def is_call(info: ValidationInfo) -> bool:
    """Whether the settings are read for a call (rather than checked as staff save them)."""
    return bool(info.context and info.context.get(_CALL))


# Normalisers: how a value staff typed into the settings JSON is read before its type is checked.


def text(value: object) -> str:
    """Any value as trimmed text; None is empty."""
    return "" if value is None else str(value).strip()


def text_or_default(value: object) -> str:
    """``text``, where empty stands for the default."""
    if not (value := text(value)):
        raise PydanticUseDefault
    return value


def empty_is_default(value: object) -> object:
    if value is None or value == "":
        raise PydanticUseDefault
    return value


def number_or_default(value: object) -> object:
    """A number written as text ("0.5") as that number, a whole one (5.0) as an int; empty is
    the default; anything else as it is, for the declared type to judge."""
    value = empty_is_default(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Setting types that more than one provider declares.

Text = Annotated[str, BeforeValidator(text)]


def whole_number(
    low: int, high: int, message: Callable[[Any], str], *, empty_means_default: bool = False
) -> Any:
    """A whole number from ``low`` to ``high``, given as a JSON number. A call reads a wrong one
    leniently: "5" is 5, 50 is ``high``; anything that is no number is left to the model's
    ``lenient``."""

    def within_bounds(value: object, info: ValidationInfo) -> object:
        if not is_call(info) or value is None or value == "":
            return value
        try:
            return max(low, min(high, int(value)))
        except (TypeError, ValueError, OverflowError):
            return value

    normalised = empty_is_default if empty_means_default else (lambda value: value)
    return Annotated[
        int,
        Field(ge=low, le=high, strict=True),
        worded(message, normalised=normalised),
        BeforeValidator(within_bounds),
    ]


def _attempts_problem(value: object) -> str:
    return gettext("The number of attempts must be a whole number from 1 to %(limit)s.") % {
        "limit": MAX_ATTEMPTS_LIMIT
    }


# How many calls a job may make, for the drivers that make one call per attempt.
Attempts = whole_number(1, MAX_ATTEMPTS_LIMIT, _attempts_problem, empty_means_default=True)

# Seconds a call needs at least (ProviderSettings.min_seconds); empty is the provider's default.
MinSeconds = whole_number(0, 120, _min_seconds_problem, empty_means_default=True)
MIN_SECONDS_HELP = (
    "Seconds a call needs at least: in a failover chain this step is skipped when less time is "
    "left, and the step before it leaves it this long"
)


class ProviderSettings(BaseModel):
    """A slot's settings for one provider. Keys the model does not declare are ignored: staff
    may keep notes or another provider's settings in a slot."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # The provider, as named in a call's failure details.
    provider: ClassVar[str]
    # Settings whose wrong value a call reads as the default, so that a slot saved before its
    # settings were checked still gives guests an image. A wrong value of any other setting
    # means no call: the guest would get nothing useful from it.
    lenient: ClassVar[frozenset[str]] = frozenset()

    # The least time a call needs to have a chance of an image: a failover step (ingest.failover)
    # with less time left is skipped, and an earlier step leaves it that much. Each provider
    # declares its own default, with MIN_SECONDS_HELP.
    min_seconds: MinSeconds = Field(5, description=MIN_SECONDS_HELP)

    @model_validator(mode="before")
    @classmethod
    def _required_settings_present(cls, data: Any) -> Any:
        # A missing required setting is checked like an empty one, by its own validator, so it
        # is worded like the other problems of that setting.
        if not isinstance(data, dict):
            return data
        missing = {
            name: None
            for name, field in cls.model_fields.items()
            if field.is_required() and name not in data
        }
        return data | missing

    @property
    def base_url(self) -> str:
        """Where the provider's calls (and its key) go: only the machine's owner sets it, in
        the environment (GEMINI_BASE_URL, …), never a slot."""
        return django_settings.PROVIDER_BASE_URLS[self.provider]

    @classmethod
    def problems(cls, settings: dict, *, operation: str) -> dict[str, str]:
        """What is wrong with ``settings`` by setting name, worded for event staff in the
        active language; empty when they are valid."""
        problems = {}
        try:
            cls.model_validate(settings, context={"operation": operation})
        except ValidationError as error:
            problems = _problems_of(error)
        if isinstance(settings, dict) and "base_url" in settings:
            problems["base_url"] = _base_url_refused(cls.provider)
        return problems

    @classmethod
    def for_call(cls, settings: dict, *, operation: str) -> Self:
        """The options of a call, or ProviderError naming the wrong settings that are not
        ``lenient``; a wrong lenient setting is read as its default."""
        context = {"operation": operation, _CALL: True}
        # The problems become the job's failure details, which stay English (the booth's
        # operators read them in logs) even when a staff member's test run is served in
        # another language.
        with translation.override(None):
            try:
                return cls.model_validate(settings, context=context)
            except ValidationError as error:
                problems = _problems_of(error)
        refused = [message for name, message in problems.items() if name not in cls.lenient]
        if refused:
            listed = "; ".join(refused)
            raise ProviderError(f"the slot's {cls.provider} settings are not valid: {listed}")
        kept = {name: value for name, value in settings.items() if name not in problems}
        return cls.model_validate(kept, context=context)
