"""The gemini driver against the fake Gemini server, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

from providers.base import (
    Deadline,
    ProviderError,
    ProviderInputError,
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.gemini import DEFAULT_MODEL, GeminiProvider
from providers.registry import provider_for
from tests.fakes.gemini import (
    FakeGemini,
    RecordedRequest,
    answer_image,
    answer_json,
    block,
    delay,
    error,
    finish,
    hang,
    text_only,
    trickle,
)
from tests.images import image_bytes, jpeg_bytes

# The fixture, bound here so pytest finds it (an import would be flagged as shadowed by ruff).
pytestmark = pytest.mark.anyio

KEY = "AIzaSy-test-key-0123456789abcdef"
PROMPT = "turn the guest into a watercolour painting"
PHOTO_FORMATS = {".jpg": "JPEG", ".png": "PNG"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes((640, 480)))
    return path


def gemini_request(
    fake: FakeGemini,
    photo: Path,
    *,
    api_key: str = KEY,
    orientation: int = 1,
    templates: tuple[TemplateImageInput, ...] = (),
    deadline: Deadline | None = None,
    **settings: object,
) -> ProviderRequest:
    return ProviderRequest(
        job_id="job-1",
        photo_path=photo,
        photo_format=PHOTO_FORMATS[photo.suffix],
        photo_orientation=orientation,
        operation="generate",
        settings={"prompt": PROMPT, **settings},
        template_images=list(templates),
        api_key=api_key,
        deadline=deadline or Deadline.in_seconds(30),
    )


async def generate(fake: FakeGemini, photo: Path, **options: object) -> ProviderResult:
    return await GeminiProvider().process(gemini_request(fake, photo, **options))


def parts_of(request: RecordedRequest) -> list[dict]:
    return request.json["contents"][0]["parts"]


def sent_bytes(part: dict) -> bytes:
    return base64.b64decode(part["inline_data"]["data"])


def sent_image(request: RecordedRequest) -> Image.Image:
    image = Image.open(io.BytesIO(sent_bytes(parts_of(request)[0])))
    image.load()
    return image


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_jpeg_answer_is_returned(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(answer_image("JPEG", size=(64, 48)))
    result = await generate(fake_gemini, photo)
    assert result.format == "JPEG"
    assert image_size(result.data) == (64, 48)


async def test_png_answer_is_returned(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(answer_image("PNG", size=(30, 20)))
    result = await generate(fake_gemini, photo)
    assert result.format == "PNG"
    assert image_size(result.data) == (30, 20)


async def test_final_image_is_returned_after_a_thought_image(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(answer_image("PNG", size=(64, 48), thought_first=True))
    result = await generate(fake_gemini, photo)
    assert image_size(result.data) == (64, 48)  # the thought draft is 16x16


async def test_snake_case_inline_data_is_accepted(fake_gemini: FakeGemini, photo: Path) -> None:
    data = base64.b64encode(image_bytes("WEBP", (20, 10))).decode()
    part = {"inline_data": {"mime_type": "image/webp", "data": data}}
    fake_gemini.script(answer_json(200, {"candidates": [{"content": {"parts": [part]}}]}))
    result = await generate(fake_gemini, photo)
    assert result.format == "WEBP"


async def test_blocked_prompt_is_a_permanent_error(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(block("PROHIBITED_CONTENT"))
    with pytest.raises(ProviderError, match="PROHIBITED_CONTENT") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert len(fake_gemini.requests) == 1


async def test_image_safety_finish_is_a_permanent_error(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(finish("IMAGE_SAFETY"))
    with pytest.raises(ProviderError, match="IMAGE_SAFETY") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert len(fake_gemini.requests) == 1


async def test_no_image_is_retried_then_succeeds(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(finish("NO_IMAGE"), answer_image())
    result = await generate(fake_gemini, photo)
    assert result.format == "JPEG"
    assert len(fake_gemini.requests) == 2


async def test_text_only_answer_is_a_permanent_error_with_the_text(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(text_only("I can't edit photos of people. " + "x" * 500))
    with pytest.raises(ProviderError, match="I can't edit photos of people") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert len(str(raised.value)) < 300


async def test_rate_limit_waits_for_the_retry_delay_then_succeeds(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(error(429, "RESOURCE_EXHAUSTED", "quota exceeded", retry_delay="1s"))
    result = await generate(fake_gemini, photo)
    assert result.format == "JPEG"
    first, second = fake_gemini.requests
    assert second.received_at - first.received_at >= 0.95


async def test_unavailable_is_retried_then_succeeds(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(error(503, "UNAVAILABLE", "The model is overloaded."))
    result = await generate(fake_gemini, photo)
    assert result.format == "JPEG"
    assert len(fake_gemini.requests) == 2


async def test_attempts_stop_at_max_attempts(fake_gemini: FakeGemini, photo: Path) -> None:
    overloaded = error(503, "UNAVAILABLE", "The model is overloaded.", retry_delay="0s")
    fake_gemini.script(overloaded, overloaded, overloaded)
    with pytest.raises(ProviderError, match="503 UNAVAILABLE") as raised:
        await generate(fake_gemini, photo, max_attempts=2)
    assert raised.value.retryable
    assert len(fake_gemini.requests) == 2


async def test_max_attempts_written_as_text_is_read_as_a_number(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    # A slot saved before its settings were checked: "2" is what staff meant.
    overloaded = error(503, "UNAVAILABLE", "The model is overloaded.", retry_delay="0s")
    fake_gemini.script(overloaded, overloaded, overloaded)
    with pytest.raises(ProviderError, match="after 2 attempts"):
        await generate(fake_gemini, photo, max_attempts="2")
    assert len(fake_gemini.requests) == 2


async def test_retries_stop_when_the_deadline_leaves_no_room(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(error(429, "RESOURCE_EXHAUSTED", "quota exceeded", retry_delay="5s"))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="429") as raised:
        await generate(fake_gemini, photo, deadline=Deadline.in_seconds(1.5))
    assert time.monotonic() - started < 1.0
    assert raised.value.retryable
    assert len(fake_gemini.requests) == 1


async def test_invalid_key_is_refused_once_without_the_key(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(
        error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            reason="API_KEY_INVALID",
        )
    )
    with pytest.raises(ProviderError, match=r"refused the key \(API_KEY_INVALID\)") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert KEY not in str(raised.value)
    assert len(fake_gemini.requests) == 1


async def test_other_client_errors_are_not_retried(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(error(400, "INVALID_ARGUMENT", "Unsupported MIME type"))
    with pytest.raises(ProviderError, match="Unsupported MIME type") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert len(fake_gemini.requests) == 1


async def test_key_echoed_in_an_error_message_is_redacted(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(error(403, "PERMISSION_DENIED", f"key {KEY} is suspended"))
    with pytest.raises(ProviderError, match="suspended") as raised:
        await generate(fake_gemini, photo)
    assert KEY not in str(raised.value)


async def test_key_is_not_logged_on_retries(
    fake_gemini: FakeGemini, photo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_gemini.script(error(500, "INTERNAL", f"internal error for {KEY}", retry_delay="0s"))
    with caplog.at_level(logging.DEBUG):
        await generate(fake_gemini, photo)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text


async def test_malformed_answer_is_a_permanent_error(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(answer_json(200, '{"candidates": [{"content": '))
    with pytest.raises(ProviderError, match="malformed answer") as raised:
        await generate(fake_gemini, photo)
    assert not raised.value.retryable
    assert len(fake_gemini.requests) == 1


async def test_missing_key_is_refused_without_a_request(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="gemini API key is not configured") as raised:
        await generate(fake_gemini, photo, api_key="")
    assert not raised.value.retryable
    assert fake_gemini.requests == []


async def test_missing_prompt_is_refused_without_a_request(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="prompt") as raised:
        await generate(fake_gemini, photo, prompt="")
    assert not raised.value.retryable
    assert fake_gemini.requests == []


async def test_unreachable_server_is_a_retryable_error(photo: Path, settings: object) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.PROVIDER_BASE_URLS = {
        **settings.PROVIDER_BASE_URLS,
        "gemini": f"http://127.0.0.1:{port}",
    }
    request = ProviderRequest(
        job_id="job-1",
        photo_path=photo,
        photo_format="JPEG",
        photo_orientation=1,
        operation="generate",
        settings={"prompt": PROMPT, "max_attempts": 1},
        api_key=KEY,
        deadline=Deadline.in_seconds(30),
    )
    with pytest.raises(ProviderError, match="cannot connect") as raised:
        await GeminiProvider().process(request)
    assert raised.value.retryable


async def test_cancelled_call_closes_its_connection(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(hang())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(generate(fake_gemini, photo), 1.0)
    for _ in range(100):
        if fake_gemini.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake_gemini.disconnects == 1


async def test_silent_server_times_out_after_the_deadline(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(hang())
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not answer in time"):
        await generate(fake_gemini, photo, deadline=Deadline.in_seconds(0.3))
    assert time.monotonic() - started < 2.0
    assert len(fake_gemini.requests) == 1


async def test_slow_answer_within_the_deadline_completes(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    fake_gemini.script(delay(0.3))
    result = await generate(fake_gemini, photo)
    assert result.format == "JPEG"
    assert fake_gemini.disconnects == 0


async def test_trickled_answer_completes(fake_gemini: FakeGemini, photo: Path) -> None:
    fake_gemini.script(trickle(0.5))
    result = await generate(fake_gemini, photo)
    assert image_size(result.data) == (64, 48)
    assert fake_gemini.disconnects == 0


async def test_request_sends_photo_templates_then_prompt(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    style = TemplateImageInput(role="style", content_type="image/png", data=image_bytes("PNG"))
    background = TemplateImageInput(
        role="background", content_type="image/webp", data=image_bytes("WEBP")
    )
    await generate(fake_gemini, photo, templates=(style, background))
    (request,) = fake_gemini.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["user-agent"] == "PhotoChanger/0.1"
    assert request.json["contents"][0]["role"] == "user"
    photo_part, style_part, background_part, text_part = parts_of(request)
    assert photo_part["inline_data"]["mime_type"] == "image/jpeg"
    assert (style_part["inline_data"]["mime_type"], sent_bytes(style_part)) == (
        "image/png",
        style.data,
    )
    assert (background_part["inline_data"]["mime_type"], sent_bytes(background_part)) == (
        "image/webp",
        background.data,
    )
    assert text_part == {"text": PROMPT}
    assert request.json["generationConfig"] == {"responseModalities": ["IMAGE"]}


async def test_aspect_ratio_is_sent_when_set(fake_gemini: FakeGemini, photo: Path) -> None:
    await generate(fake_gemini, photo, aspect_ratio="3:4", image_size="2K")
    config = fake_gemini.requests[0].json["generationConfig"]
    # imageSize is for 3.x models only; the default model is 2.5.
    assert config == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:4"}}


async def test_image_size_is_sent_for_gemini_3_models(fake_gemini: FakeGemini, photo: Path) -> None:
    model = "gemini-3-pro-image-preview"
    await generate(fake_gemini, photo, model=model, aspect_ratio="16:9", image_size="2K")
    (request,) = fake_gemini.requests
    assert request.path == f"/v1beta/models/{model}:generateContent"
    assert request.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }


async def test_large_jpeg_is_scaled_down_by_its_decoder(
    fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    large = tmp_path / "large.jpg"
    large.write_bytes(jpeg_bytes((6000, 4000)))
    await generate(fake_gemini, large)
    sent = sent_image(fake_gemini.requests[0])
    assert sent.format == "JPEG"
    assert sent.size == (1500, 1000)  # 1/4: the coarsest scale keeping 1024 px or more


async def test_large_png_is_resampled_to_2048(fake_gemini: FakeGemini, tmp_path: Path) -> None:
    large = tmp_path / "large.png"
    large.write_bytes(image_bytes("PNG", (3000, 2000)))
    await generate(fake_gemini, large)
    sent = sent_image(fake_gemini.requests[0])
    assert (sent.format, sent.size) == ("JPEG", (2048, 1365))


async def test_small_upright_photo_is_sent_as_it_is(
    fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    small = tmp_path / "small.png"
    small.write_bytes(image_bytes("PNG", (800, 600)))
    await generate(fake_gemini, small)
    photo_part = parts_of(fake_gemini.requests[0])[0]
    assert photo_part["inline_data"]["mime_type"] == "image/png"
    assert sent_bytes(photo_part) == small.read_bytes()


async def test_rotated_photo_is_sent_upright(fake_gemini: FakeGemini, tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(jpeg_bytes((400, 200), exif_orientation=6))
    await generate(fake_gemini, rotated, orientation=6)
    sent = sent_image(fake_gemini.requests[0])
    assert sent.size == (200, 400)
    assert sent.getexif().get(0x0112, 1) == 1


async def test_undecodable_photo_is_an_input_error(fake_gemini: FakeGemini, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg_bytes((3000, 2000))[:5000])
    with pytest.raises(ProviderInputError) as raised:
        await generate(fake_gemini, broken)
    assert str(tmp_path) not in str(raised.value)
    assert fake_gemini.requests == []


def test_registry_serves_gemini() -> None:
    assert isinstance(provider_for("gemini"), GeminiProvider)


def test_gemini_gets_the_photo_as_bytes_not_by_url() -> None:
    assert GeminiProvider().needs_public_urls is False


# Slot settings, checked when staff save a slot.

VALID = {"prompt": PROMPT}


def problems_of(operation: str = "generate", **settings: object) -> dict[str, str]:
    return GeminiProvider().settings_problems(operation, {**VALID, **settings})


def test_prompt_alone_is_valid() -> None:
    assert problems_of() == {}


def test_every_setting_at_a_valid_value_is_valid() -> None:
    assert (
        problems_of(
            model="models/gemini-3-pro-image-preview",
            aspect_ratio="21:9",
            image_size="4K",
            max_attempts=10,
        )
        == {}
    )


def test_other_operation_is_a_problem_of_the_operation() -> None:
    assert problems_of("mix_images") == {
        "": "Gemini has no operation “mix_images”; use “generate”."
    }


@pytest.mark.parametrize("prompt", [None, "", "   \n"])
def test_missing_or_blank_prompt_is_a_problem(prompt: object) -> None:
    assert problems_of(prompt=prompt) == {"prompt": "The prompt is required for Gemini."}


@pytest.mark.parametrize("model", ["gemini/../../v1/files", "gemini?key=1", "-flash", "Gemini 3"])
def test_model_that_does_not_fit_in_the_url_is_a_problem(model: str) -> None:
    problems = problems_of(model=model)
    assert set(problems) == {"model"}
    assert "is not a Gemini model name" in problems["model"]


@pytest.mark.parametrize("ratio", ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9"])
def test_allowed_aspect_ratios_are_valid(ratio: str) -> None:
    assert problems_of(aspect_ratio=ratio) == {}


@pytest.mark.parametrize("ratio", ["2:1", "3x4", "portrait", "16:10"])
def test_other_aspect_ratio_is_a_problem_that_lists_the_allowed_ones(ratio: str) -> None:
    problems = problems_of(aspect_ratio=ratio)
    assert set(problems) == {"aspect_ratio"}
    assert "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9" in problems["aspect_ratio"]


@pytest.mark.parametrize("size", ["8K", "2048", "large"])
def test_other_image_size_is_a_problem(size: str) -> None:
    problems = problems_of(model="gemini-3-pro-image-preview", image_size=size)
    assert set(problems) == {"image_size"}
    assert "1K, 2K, 4K" in problems["image_size"]


def test_image_size_on_a_gemini_2_5_model_is_a_problem_that_says_why() -> None:
    problems = problems_of(image_size="2K")
    assert set(problems) == {"image_size"}
    assert "only with Gemini 3 models" in problems["image_size"]
    assert DEFAULT_MODEL in problems["image_size"]


def test_lowercase_image_size_is_valid() -> None:
    assert problems_of(model="gemini-3-pro-image-preview", image_size="2k") == {}


@pytest.mark.parametrize("attempts", [1, 3, 10])
def test_max_attempts_from_1_to_10_is_valid(attempts: int) -> None:
    assert problems_of(max_attempts=attempts) == {}


@pytest.mark.parametrize("attempts", [0, 11, -1, 2.5, "3", True])
def test_other_max_attempts_is_a_problem(attempts: object) -> None:
    assert problems_of(max_attempts=attempts) == {
        "max_attempts": "The number of attempts must be a whole number from 1 to 10."
    }


@pytest.mark.parametrize(
    "url", ["https://generativelanguage.googleapis.com", "http://attacker.example", ""]
)
def test_base_url_in_a_slot_is_refused_whatever_its_value(url: str) -> None:
    # The key goes wherever the calls go: only the environment (GEMINI_BASE_URL) may say where.
    problems = problems_of(base_url=url)
    assert set(problems) == {"base_url"}
    assert "GEMINI_BASE_URL" in problems["base_url"]


def test_every_problem_is_named_at_once() -> None:
    problems = GeminiProvider().settings_problems(
        "edit", {"model": "a/b", "aspect_ratio": "2:1", "max_attempts": 0, "base_url": "x"}
    )
    assert set(problems) == {"", "prompt", "model", "aspect_ratio", "max_attempts", "base_url"}


async def test_invalid_model_is_refused_without_a_request(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="is not a Gemini model name") as raised:
        await generate(fake_gemini, photo, model="gemini/../../files")
    assert not raised.value.retryable
    assert fake_gemini.requests == []


async def test_unchecked_wrong_optional_settings_are_left_out_of_the_call(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    # A slot saved before its settings were checked still gives guests an image.
    await generate(fake_gemini, photo, aspect_ratio="2:1", image_size="8K")
    assert fake_gemini.requests[0].json["generationConfig"] == {"responseModalities": ["IMAGE"]}


async def test_lowercase_image_size_is_sent_in_uppercase(
    fake_gemini: FakeGemini, photo: Path
) -> None:
    await generate(fake_gemini, photo, model="gemini-3-pro-image-preview", image_size="4k")
    assert fake_gemini.requests[0].json["generationConfig"]["imageConfig"] == {"imageSize": "4K"}
