"""Slot settings are checked per provider when staff save them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from slots.models import Slot
from slots.services import slot_settings_problems


def test_valid_local_settings_have_no_problems() -> None:
    assert (
        slot_settings_problems(provider="local", operation="posterize", settings={"bits": 3}) == {}
    )


def test_unknown_operation_is_named() -> None:
    problems = slot_settings_problems(provider="local", operation="blur", settings={})
    assert set(problems) == {"operation"}
    assert "grayscale" in problems["operation"]


def test_out_of_range_setting_is_named() -> None:
    problems = slot_settings_problems(
        provider="local", operation="posterize", settings={"bits": 12, "output_format": "gif"}
    )
    assert set(problems) == {"settings.bits", "settings.output_format"}


def test_unknown_provider_is_refused() -> None:
    assert set(slot_settings_problems(provider="dall-e", operation="x", settings={})) == {
        "provider"
    }


def test_settings_must_be_an_object() -> None:
    assert slot_settings_problems(provider="local", operation="grayscale", settings=[1]) == {
        "settings": "Settings must be a JSON object."
    }


def test_model_validation_reports_problems_on_their_fields() -> None:
    slot = Slot(
        id="slot-001",
        display_name="x",
        provider="local",
        operation="posterize",
        settings={"bits": 0},
    )
    with pytest.raises(ValidationError) as raised:
        slot.clean()
    assert raised.value.message_dict == {
        "settings": ["bits: bits must be a whole number from 1 to 8."]
    }
