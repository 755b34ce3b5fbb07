"""Prompts filled from the booth's survey: ``{style}`` or ``{name}`` in a slot's prompt, taken
from the form fields the booth sends with the photo (Breeze sends ``name``, ``email``, survey
answers, …).

Each placeholder is declared in the slot's settings, under ``prompt_fields``::

    {"prompt": "A {style} portrait of {name}",
     "prompt_fields": {"style": {"default": "watercolour", "choices": ["watercolour", "comic"]},
                       "name": {"default": "our guest", "max_length": 30}}}

A field with ``choices`` takes only one of them; a free-text field keeps letters, digits,
spaces and ``-'.,`` up to ``max_length`` (40 by default). Anything else, or nothing, is the
default: a guest cannot put words of their own into the prompt beyond that.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext

# The settings that hold a slot's prompt (Turbotext calls it content).
PROMPT_SETTINGS = ("prompt", "content")
FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,31}")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]{0,31})\}")
DEFAULT_MAX_LENGTH = 40
MAX_LENGTH_LIMIT = 100
_UNSAFE = re.compile(r"[^\w \-'.,]")


def prompt_fields_problems(settings: dict) -> dict[str, str]:
    """What is wrong with the slot's ``prompt_fields`` and the placeholders of its prompt, by
    setting name; empty when they fit together."""
    declared = settings.get("prompt_fields", {})
    if not isinstance(declared, dict):
        return {"prompt_fields": gettext("prompt_fields must be a JSON object of fields.")}
    problems = []
    for name, field in declared.items():
        if problem := _field_problem(name, field):
            problems.append(problem)
    for setting in PROMPT_SETTINGS:
        prompt = settings.get(setting)
        if not isinstance(prompt, str):
            continue
        for name in PLACEHOLDER.findall(prompt):
            if name not in declared:
                problems.append(
                    gettext("The prompt uses {%(name)s}, which prompt_fields does not declare.")
                    % {"name": name}
                )
    return {"prompt_fields": " ".join(problems)} if problems else {}


def _field_problem(name: object, field: object) -> str | None:
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        return gettext("“%(name)s” is not a field name: lowercase letters, digits and _ only.") % {
            "name": name
        }
    if not isinstance(field, dict) or not isinstance(field.get("default"), str):
        return gettext("The field %(name)s needs a text default.") % {"name": name}
    choices = field.get("choices")
    if choices is not None and (
        not isinstance(choices, list)
        or not choices
        or not all(isinstance(choice, str) for choice in choices)
    ):
        return gettext("The choices of %(name)s must be a list of texts.") % {"name": name}
    max_length = field.get("max_length", DEFAULT_MAX_LENGTH)
    if not isinstance(max_length, int) or not 1 <= max_length <= MAX_LENGTH_LIMIT:
        return gettext("The max_length of %(name)s must be a whole number from 1 to %(high)s.") % {
            "name": name,
            "high": MAX_LENGTH_LIMIT,
        }
    return None


def prompt_filled(settings: dict, *, answers: dict[str, str]) -> tuple[dict, str]:
    """The slot's settings with each placeholder of its prompt filled from the booth's
    ``answers``, and the prompt as it will be sent ('' for a slot without a prompt)."""
    declared = settings.get("prompt_fields") or {}
    values = {name: _value(field, answers.get(name, "")) for name, field in declared.items()}
    filled = dict(settings)
    sent = ""
    for setting in PROMPT_SETTINGS:
        prompt = settings.get(setting)
        if isinstance(prompt, str) and prompt:
            filled[setting] = PLACEHOLDER.sub(
                lambda match: values.get(match.group(1), match.group(0)), prompt
            )
            sent = sent or filled[setting]
    return filled, sent


def _value(field: dict, answer: str) -> str:
    answer = answer.strip()
    if field.get("choices") is not None:
        return answer if answer in field["choices"] else field["default"]
    cleaned = _UNSAFE.sub("", answer)[: field.get("max_length", DEFAULT_MAX_LENGTH)].strip()
    return cleaned or field["default"]
