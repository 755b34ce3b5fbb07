"""Each provider's settings model: what it refuses and how a call reads it; the settings' JSON
schema and help line that the admin and the API show."""

from __future__ import annotations

import pytest
from django.utils import translation

from providers.base import ProviderError
from providers.gemini import GeminiSettings
from providers.local import LocalSettings
from providers.openai import OpenAISettings
from providers.registry import provider_for
from providers.schema import provider_settings_help, provider_settings_schema
from providers.settings import ProviderSettings
from providers.turbotext import TurbotextSettings

PROMPT = "a knight in shining armour"


@pytest.mark.parametrize(
    ("model", "operation", "settings", "refused"),
    [
        (GeminiSettings, "generate", {}, "prompt"),
        (GeminiSettings, "generate", {"prompt": PROMPT, "model": "gemini 3"}, "model"),
        (
            GeminiSettings,
            "generate",
            {"prompt": PROMPT, "base_url": "https://x.example"},
            "base_url",
        ),
        (GeminiSettings, "generate", {"prompt": PROMPT, "aspect_ratio": "1:2"}, "aspect_ratio"),
        (GeminiSettings, "generate", {"prompt": PROMPT, "max_attempts": 0}, "max_attempts"),
        (OpenAISettings, "edit", {"prompt": 3 * " "}, "prompt"),
        (OpenAISettings, "edit", {"prompt": PROMPT, "size": "512x512"}, "size"),
        (OpenAISettings, "edit", {"prompt": PROMPT, "quality": "best"}, "quality"),
        (OpenAISettings, "edit", {"prompt": PROMPT, "max_attempts": "3"}, "max_attempts"),
        (TurbotextSettings, "generate_image2image", {}, "content"),
        (TurbotextSettings, "mix_images", {"strength": 81}, "strength"),
        (TurbotextSettings, "mix_images", {"scale": "big"}, "scale"),
        (TurbotextSettings, "mix_images", {"min_queue_seconds": 121}, "min_queue_seconds"),
        (TurbotextSettings, "deepfake_photo", {"face_restore": 1}, "face_restore"),
        (LocalSettings, "posterize", {"bits": 9}, "bits"),
        (LocalSettings, "sepia", {"quality": "90"}, "quality"),
        (LocalSettings, "sepia", {"output_format": "gif"}, "output_format"),
    ],
)
def test_wrong_setting_is_refused_by_name(
    model: type[ProviderSettings], operation: str, settings: dict, refused: str
) -> None:
    problems = model.problems(settings, operation=operation)
    assert list(problems) == [refused]
    assert problems[refused]


@pytest.mark.parametrize(
    ("model", "operation", "settings"),
    [
        (GeminiSettings, "generate", {"prompt": PROMPT, "model": "models/gemini-2.5-flash-image"}),
        (OpenAISettings, "edit", {"prompt": PROMPT, "output_format": "JPG", "size": ""}),
        (TurbotextSettings, "generate_image2image", {"prompt": PROMPT, "strength": "40"}),
        (TurbotextSettings, "mix_images", {"poll_seconds": "0.5", "max_attempts": 5.0}),
        (LocalSettings, "posterize", {"bits": 2, "output_format": "PNG"}),
    ],
)
def test_settings_in_a_form_staff_may_type_are_valid(
    model: type[ProviderSettings], operation: str, settings: dict
) -> None:
    assert model.problems(settings, operation=operation) == {}


def test_keys_no_provider_reads_are_ignored() -> None:
    settings = {"prompt": PROMPT, "note": "for the wedding", "strength": "not gemini's"}
    assert GeminiSettings.problems(settings, operation="generate") == {}


def test_problems_speak_the_active_language() -> None:
    with translation.override("ru"):
        problems = LocalSettings.problems({"bits": 0}, operation="posterize")
    assert problems == {"bits": "Параметр bits должен быть целым числом от 1 до 8."}


def test_a_call_reads_max_attempts_leniently() -> None:
    read = GeminiSettings.for_call({"prompt": PROMPT, "max_attempts": "5"}, operation="generate")
    assert read.max_attempts == 5
    read = OpenAISettings.for_call({"prompt": PROMPT, "max_attempts": 50}, operation="edit")
    assert read.max_attempts == 10


def test_a_call_reads_a_wrong_lenient_setting_as_its_default() -> None:
    settings = {"prompt": PROMPT, "size": "huge", "output_format": "gif", "max_attempts": "x"}
    read = OpenAISettings.for_call(settings, operation="edit")
    assert (read.size, read.output_format, read.max_attempts) == ("auto", "png", 3)


def test_a_call_refuses_a_wrong_required_setting_in_english() -> None:
    with translation.override("ru"), pytest.raises(ProviderError) as raised:
        GeminiSettings.for_call({"prompt": PROMPT, "model": "a/b"}, operation="generate")
    assert str(raised.value).startswith("the slot's gemini settings are not valid: “a/b”")
    assert not raised.value.retryable


def test_turbotext_refuses_a_call_on_any_wrong_setting() -> None:
    with pytest.raises(ProviderError, match=r"poll_seconds must be a number from 0\.05 to 10"):
        TurbotextSettings.for_call({"poll_seconds": 0}, operation="mix_images")


def test_every_driver_names_its_settings_model() -> None:
    for name, model in [
        ("gemini", GeminiSettings),
        ("openai", OpenAISettings),
        ("turbotext", TurbotextSettings),
        ("local", LocalSettings),
    ]:
        assert provider_for(name).settings_model is model


def test_schema_has_every_provider_and_its_settings() -> None:
    schema = provider_settings_schema()
    assert {name: list(described["properties"]) for name, described in schema.items()} == {
        "local": ["min_seconds", "bits", "quality", "output_format", "background_color"],
        "gemini": ["min_seconds", "prompt", "model", "aspect_ratio", "image_size", "max_attempts"],
        "openai": [
            "min_seconds",
            "prompt",
            "model",
            "size",
            "output_format",
            "quality",
            "max_attempts",
        ],
        "turbotext": [
            "min_seconds",
            "content",
            "strength",
            "seed",
            "scale",
            "negative_prompt",
            "original_language",
            "face_restore",
            "poll_seconds",
            "min_queue_seconds",
            "max_attempts",
        ],
    }


def test_schema_gives_types_bounds_defaults_and_descriptions() -> None:
    gemini = provider_settings_schema()["gemini"]
    assert gemini["required"] == ["prompt"]
    attempts = gemini["properties"]["max_attempts"]
    assert (attempts["type"], attempts["minimum"], attempts["maximum"]) == ("integer", 1, 10)
    assert attempts["default"] == 3
    for described in gemini["properties"].values():
        assert described["description"]


def test_help_names_each_setting_with_its_default() -> None:
    help_text = provider_settings_help("gemini")
    assert help_text.startswith("prompt (required): ")
    assert "; model: The Gemini image model" in help_text
    assert "(default gemini-2.5-flash-image)" in help_text
    assert "max_attempts: " in help_text
    assert "(1 to 10, default 3)" in help_text
    assert "\n" not in help_text


def test_help_lists_choices_and_bounds() -> None:
    help_text = provider_settings_help("turbotext")
    assert "poll_seconds: " in help_text
    assert "(0.05 to 10, default 2)" in help_text
    assert "(default true)" in help_text
    assert "(png / jpeg / webp, default png)" in provider_settings_help("openai")


def test_help_of_an_unknown_provider_is_empty() -> None:
    assert provider_settings_help("dall-e") == ""
