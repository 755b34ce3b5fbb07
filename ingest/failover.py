"""The failover chain: a slot's own provider, then up to two other slots' providers
(``failover_first``, ``failover_second``), tried in turn for the same photo inside the job's
one deadline.

Each step gets what is left of the deadline, less what the next step that can still run needs
at least (its provider's ``min_seconds``), so a provider that hangs still leaves the next one its
chance; a failover step with less than its own minimum left is skipped (the slot's own provider
always gets its turn, however short the deadline). A refusal for the content (safety,
moderation) ends the chain unless the slot says to move on; a photo that does not decode ends
it at once (no provider will read it). Every step is recorded on the job as an attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.utils import timezone

from photochanger.errors import (
    PhotoChangerError,
    ProviderFailed,
    ProviderTimeout,
    UnsupportedMediaType,
)
from providers.base import (
    Deadline,
    ProviderError,
    ProviderInputError,
    ProviderRefused,
    ProviderResult,
)
from providers.registry import provider_for
from slots.models import Slot
from slots.prompts import prompt_filled

MAX_DETAILS = 300
# Kept on top of the next step's minimum: dropping one call and starting the next takes a
# moment, and the next step is skipped if it finds a hair less than its minimum.
_HANDOVER_SECONDS = 0.5


class StepNotAllowed(Exception):
    """This step may not run now (a daily cap of paid calls): the chain moves on."""


@dataclass(frozen=True)
class ChainStep:
    """One provider of the chain: the slot whose provider, operation, settings and template
    images it uses, its settings with the prompt filled, and the least time it needs."""

    slot: Slot
    settings: dict
    min_seconds: int


def chain_steps(*, slot: Slot, call_settings: dict, answers: dict[str, str]) -> list[ChainStep]:
    """The chain of ``slot`` (whose own settings, filled, are ``call_settings``): itself, then
    its failover slots as saved, their prompts filled from the same ``answers``. Reads the
    failover slots from the database."""
    chain = [ChainStep(slot, call_settings, _min_seconds(slot, call_settings))]
    for next_slot in (slot.failover_first, slot.failover_second):
        if next_slot is not None and next_slot.pk != slot.pk:
            settings = prompt_filled(next_slot.settings, answers=answers)[0]
            chain.append(ChainStep(next_slot, settings, _min_seconds(next_slot, settings)))
    return chain


def _min_seconds(slot: Slot, settings: dict) -> int:
    provider = provider_for(slot.provider)
    if provider is None:
        return 0
    try:
        return provider.settings_model.for_call(settings, operation=slot.operation).min_seconds
    except ProviderError:
        return 0  # its call fails at once, with the reason


@dataclass(frozen=True)
class ChainAnswer:
    step: int
    result: ProviderResult


Call = Callable[[ChainStep, Deadline], Awaitable[ProviderResult]]


async def chain_answer(
    steps: list[ChainStep],
    *,
    deadline: Deadline,
    deadline_seconds: int,
    call: Call,
    past_refusals: bool,
    attempts: list[dict],
) -> ChainAnswer:
    """The first step's image that comes, each step ``call``-ed with its own deadline; every
    step is appended to ``attempts``. Raises the PhotoChangerError the guest gets when no step
    gives one: ProviderTimeout when the deadline ran out, else ProviderFailed (or
    UnsupportedMediaType for a photo no provider can read)."""
    failures: list[tuple[ChainStep, str]] = []  # each step that ran and failed, and why
    timed_out = False
    for number, step in enumerate(steps):
        started = timezone.now()
        left = deadline.remaining()
        if number > 0 and left < step.min_seconds:  # the slot's own provider always runs
            details = f"{left:.1f} s left, {step.min_seconds} s needed"
            attempts.append(_attempt(number, step, started, "skipped", "no_time", details))
            continue
        step_deadline = Deadline(deadline.at - _reserve(steps[number + 1 :], left))
        outcome, kind = "failed", "failed"
        try:
            async with asyncio.timeout(step_deadline.remaining()) as timeout:
                result = await call(step, step_deadline)
        except TimeoutError:
            if timeout.expired():
                timed_out = True
                outcome, kind = "timeout", "timeout"
                message = f"no answer in {(timezone.now() - started).total_seconds():.1f} s"
            else:
                message = "the provider timed out"
        except StepNotAllowed as error:
            attempts.append(_attempt(number, step, started, "skipped", "cap", str(error)))
            failures.append((step, str(error)))
            continue
        except ProviderInputError as error:
            attempts.append(_attempt(number, step, started, "failed", "input", str(error)))
            raise UnsupportedMediaType(str(error)) from None
        except ProviderRefused as error:
            attempts.append(_attempt(number, step, started, "refused", "refused", str(error)))
            if not past_refusals:
                raise ProviderFailed(str(error)) from None
            failures.append((step, str(error)))
            continue
        except ProviderError as error:
            kind, message = ("unavailable" if error.retryable else "failed"), str(error)
        except ProviderFailed as error:  # raised before the call, e.g. no public base URL
            message = error.details
        else:
            attempts.append(_attempt(number, step, started, "ok", "", ""))
            return ChainAnswer(step=number, result=result)
        attempts.append(_attempt(number, step, started, outcome, kind, message))
        failures.append((step, message))
    raise _chain_error(failures, timed_out=timed_out, deadline_seconds=deadline_seconds)


def _reserve(later: list[ChainStep], left: float) -> float:
    """What a step leaves for the steps after it: the minimum of the first one that can still
    run in what is left (a step that could not is skipped, so nothing is kept for it)."""
    for next_step in later:
        reserve = next_step.min_seconds + _HANDOVER_SECONDS
        if reserve < left:
            return reserve
    return 0.0


def _chain_error(
    failures: list[tuple[ChainStep, str]], *, timed_out: bool, deadline_seconds: int
) -> PhotoChangerError:
    """One provider's failure as it said it; several, each after its slot and provider."""
    if len(failures) == 1:
        tried = failures[0][1]
    else:
        tried = "; ".join(f"{step.slot.pk} ({step.slot.provider}): {why}" for step, why in failures)
    if timed_out:
        within = f"no answer within {deadline_seconds} s"
        return ProviderTimeout(within if len(failures) <= 1 else f"{within} ({tried})")
    if not failures:
        return ProviderTimeout(f"no time left within {deadline_seconds} s for any provider")
    return ProviderFailed(tried)


def _attempt(
    number: int, step: ChainStep, started: object, outcome: str, error: str, details: str
) -> dict:
    finished = timezone.now()
    return {
        "step": number,
        "slot": step.slot.pk,
        "provider": step.slot.provider,
        "operation": step.slot.operation,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "outcome": outcome,
        "error": error,
        "details": details[:MAX_DETAILS],
    }
