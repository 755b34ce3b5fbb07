"""The openai driver against the fake OpenAI server, over real loopback HTTP."""

from __future__ import annotations

import asyncio
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
from providers.openai import MODERATION_MESSAGE, OpenAIProvider
from providers.registry import provider_for
from tests.fakes.openai import (
    FakeOpenAI,
    answer_image,
    answer_json,
    delay,
    error,
    hang,
    moderation_blocked,
)
from tests.images import image_bytes, jpeg_bytes

# The fixture, bound here so pytest finds it (an import would be flagged as shadowed by ruff).
pytestmark = pytest.mark.anyio

KEY = "sk-proj-test-key-0123456789abcdef"
PROMPT = "turn the guest into a comic book hero"
PHOTO_FORMATS = {".jpg": "JPEG", ".png": "PNG"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes((640, 480)))
    return path


def openai_request(
    fake: FakeOpenAI,
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
        operation="edit",
        settings={"prompt": PROMPT, **settings},
        template_images=list(templates),
        api_key=api_key,
        deadline=deadline or Deadline.in_seconds(30),
    )


async def edit(fake: FakeOpenAI, photo: Path, **options: object) -> ProviderResult:
    return await OpenAIProvider().process(openai_request(fake, photo, **options))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_png_answer_is_returned(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(answer_image("PNG", size=(64, 48)))
    result = await edit(fake_openai, photo)
    assert result.format == "PNG"
    assert decoded(result.data).size == (64, 48)
    assert not result.photo_unchanged


async def test_format_is_read_from_the_image_bytes(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(answer_image("WEBP", size=(30, 20)))
    result = await edit(fake_openai, photo, output_format="webp")
    assert result.format == "WEBP"
    assert decoded(result.data).size == (30, 20)


async def test_request_is_multipart_with_photo_then_templates(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    style = TemplateImageInput(role="style", content_type="image/png", data=image_bytes("PNG"))
    background = TemplateImageInput(
        role="background", content_type="image/webp", data=image_bytes("WEBP")
    )
    await edit(fake_openai, photo, templates=(style, background))
    (request,) = fake_openai.requests
    assert request.path == "/v1/images/edits"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.headers["user-agent"] == "PhotoChanger/0.1"
    assert request.fields == {
        "prompt": PROMPT,
        "model": "gpt-image-1",
        "size": "auto",
        "output_format": "png",
    }
    assert [(file.field, file.filename, file.content_type) for file in request.files] == [
        ("image[]", "photo.jpg", "image/jpeg"),
        ("image[]", "template-1.png", "image/png"),
        ("image[]", "template-2.webp", "image/webp"),
    ]
    # Small and upright: sent as it is.
    assert request.files[0].data == await asyncio.to_thread(photo.read_bytes)
    assert request.files[1].data == style.data
    assert request.files[2].data == background.data


async def test_slot_settings_are_sent(fake_openai: FakeOpenAI, photo: Path) -> None:
    await edit(
        fake_openai,
        photo,
        model="gpt-image-1-mini",
        size="1024x1536",
        output_format="jpeg",
        quality="high",
    )
    assert fake_openai.requests[0].fields == {
        "prompt": PROMPT,
        "model": "gpt-image-1-mini",
        "size": "1024x1536",
        "output_format": "jpeg",
        "quality": "high",
    }


async def test_large_photo_is_scaled_down_before_sending(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    large = tmp_path / "large.jpg"
    large.write_bytes(jpeg_bytes((3000, 2000)))
    await edit(fake_openai, large)
    sent = fake_openai.requests[0].files[0]
    assert sent.content_type == "image/jpeg"
    assert decoded(sent.data).size == (1500, 1000)  # 1/2 by the JPEG decoder


async def test_rotated_photo_is_sent_upright(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(jpeg_bytes((600, 400), exif_orientation=6))
    await edit(fake_openai, rotated, orientation=6)
    assert decoded(fake_openai.requests[0].files[0].data).size == (400, 600)


async def test_small_upright_png_is_sent_as_it_is(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    data = image_bytes("PNG", (800, 600))
    small.write_bytes(data)
    await edit(fake_openai, small)
    sent = fake_openai.requests[0].files[0]
    assert (sent.filename, sent.content_type, sent.data) == ("photo.png", "image/png", data)


async def test_undecodable_photo_is_an_input_error(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ProviderInputError, match="cannot be decoded") as raised:
        await edit(fake_openai, broken)
    assert str(tmp_path) not in str(raised.value)
    assert fake_openai.requests == []


async def test_moderation_refusal_is_permanent_after_one_request(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(moderation_blocked())
    with pytest.raises(ProviderError) as raised:
        await edit(fake_openai, photo)
    assert str(raised.value) == MODERATION_MESSAGE
    assert not raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_rate_limit_waits_for_retry_after_then_succeeds(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(error(429, "rate_limit_exceeded", "Rate limit reached", retry_after=1))
    result = await edit(fake_openai, photo)
    assert result.format == "PNG"
    first, second = fake_openai.requests
    assert second.received_at - first.received_at >= 0.95


async def test_server_error_is_retried_then_succeeds(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(error(500, "server_error", "The server had an error", retry_after=0))
    result = await edit(fake_openai, photo)
    assert result.format == "PNG"
    assert len(fake_openai.requests) == 2


async def test_server_error_without_retry_after_backs_off_one_second(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(error(503, "server_error", "Service unavailable"))
    await edit(fake_openai, photo)
    first, second = fake_openai.requests
    assert 0.95 <= second.received_at - first.received_at < 2.0


async def test_attempts_stop_at_max_attempts(fake_openai: FakeOpenAI, photo: Path) -> None:
    overloaded = error(502, "server_error", "Bad gateway", retry_after=0)
    fake_openai.script(overloaded, overloaded, overloaded)
    with pytest.raises(ProviderError, match=r"HTTP 502 server_error: Bad gateway") as raised:
        await edit(fake_openai, photo, max_attempts=2)
    assert "after 2 attempts" in str(raised.value)
    assert raised.value.retryable
    assert len(fake_openai.requests) == 2


async def test_retries_stop_when_the_deadline_leaves_no_room(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(error(429, "rate_limit_exceeded", "Rate limit reached", retry_after=5))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="429") as raised:
        await edit(fake_openai, photo, deadline=Deadline.in_seconds(2))
    assert time.monotonic() - started < 1.0
    assert raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_exhausted_quota_is_not_retried_with_the_same_key(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    # The key rests an hour: far past the deadline, so no second call.
    fake_openai.script(error(429, "insufficient_quota", "You exceeded your current quota"))
    with pytest.raises(ProviderError, match=r"insufficient_quota.*not enough time left"):
        await edit(fake_openai, photo)
    assert len(fake_openai.requests) == 1


async def test_invalid_key_is_refused_once_without_the_key(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    # OpenAI quotes the start and end of the key it got.
    fake_openai.script(
        error(401, "invalid_api_key", f"Incorrect API key provided: {KEY[:8]}...{KEY[-4:]}.")
    )
    with pytest.raises(ProviderError, match=r"refused the API key \(HTTP 401") as raised:
        await edit(fake_openai, photo)
    assert not raised.value.retryable
    assert KEY[-4:] not in str(raised.value)
    assert len(fake_openai.requests) == 1


async def test_other_client_errors_are_not_retried(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(error(400, "invalid_image_format", "Invalid image file or mode"))
    with pytest.raises(ProviderError, match="invalid_image_format: Invalid image") as raised:
        await edit(fake_openai, photo)
    assert not raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_key_echoed_in_an_error_message_is_redacted(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(error(403, "forbidden", f"key {KEY} may not use this model"))
    with pytest.raises(ProviderError, match="may not use this model") as raised:
        await edit(fake_openai, photo)
    assert KEY not in str(raised.value)


async def test_key_is_not_logged_on_retries(
    fake_openai: FakeOpenAI, photo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.script(error(500, "server_error", f"internal error for {KEY}", retry_after=0))
    with caplog.at_level(logging.DEBUG):
        await edit(fake_openai, photo)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text


async def test_malformed_json_is_a_permanent_error(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(answer_json(200, '{"created": 1, "data": [{"b64_'))
    with pytest.raises(ProviderError, match="malformed answer") as raised:
        await edit(fake_openai, photo)
    assert not raised.value.retryable
    assert len(fake_openai.requests) == 1


async def test_answer_without_b64_json_is_an_error(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(answer_json(200, {"created": 1, "data": [{"url": "https://x/y.png"}]}))
    with pytest.raises(ProviderError, match="b64_json is missing") as raised:
        await edit(fake_openai, photo)
    assert not raised.value.retryable


async def test_b64_json_that_is_not_an_image_is_an_error(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(answer_json(200, {"data": [{"b64_json": "aGVsbG8gd29ybGQ="}]}))
    with pytest.raises(ProviderError, match="not a JPEG, PNG or WebP"):
        await edit(fake_openai, photo)


async def test_missing_key_is_refused_without_a_request(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="openai API key is not configured") as raised:
        await edit(fake_openai, photo, api_key="")
    assert not raised.value.retryable
    assert fake_openai.requests == []


async def test_missing_prompt_is_refused_without_a_request(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="The prompt is required for OpenAI") as raised:
        await edit(fake_openai, photo, prompt=" ")
    assert not raised.value.retryable
    assert fake_openai.requests == []


async def test_invalid_model_is_refused_without_a_request(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    with pytest.raises(ProviderError, match="is not an OpenAI model name") as raised:
        await edit(fake_openai, photo, model="gpt image 1")
    assert not raised.value.retryable
    assert fake_openai.requests == []


async def test_unchecked_wrong_optional_settings_fall_back_to_defaults(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    # A slot saved before its settings were checked still gives guests an image.
    await edit(
        fake_openai, photo, size="4096x4096", output_format="gif", quality="ultra", max_attempts=0
    )
    assert fake_openai.requests[0].fields == {
        "prompt": PROMPT,
        "model": "gpt-image-1",
        "size": "auto",
        "output_format": "png",
    }


async def test_settings_are_sent_in_the_case_openai_wants(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    await edit(fake_openai, photo, size="1024X1024", output_format="JPG", quality="Low")
    fields = fake_openai.requests[0].fields
    assert (fields["size"], fields["output_format"], fields["quality"]) == (
        "1024x1024",
        "jpeg",
        "low",
    )


async def test_unreachable_server_is_a_retryable_error(photo: Path, settings: object) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.PROVIDER_BASE_URLS = {
        **settings.PROVIDER_BASE_URLS,
        "openai": f"http://127.0.0.1:{port}",
    }
    request = ProviderRequest(
        job_id="job-1",
        photo_path=photo,
        photo_format="JPEG",
        photo_orientation=1,
        operation="edit",
        settings={"prompt": PROMPT, "max_attempts": 1},
        api_key=KEY,
        deadline=Deadline.in_seconds(30),
    )
    with pytest.raises(ProviderError, match="cannot connect") as raised:
        await OpenAIProvider().process(request)
    assert raised.value.retryable
    assert KEY not in str(raised.value)


async def test_cancelled_call_closes_its_connection(fake_openai: FakeOpenAI, photo: Path) -> None:
    fake_openai.script(hang())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(edit(fake_openai, photo), 1.0)
    for _ in range(100):
        if fake_openai.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake_openai.disconnects == 1


async def test_silent_server_times_out_after_the_deadline(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(hang())
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not answer in time"):
        await edit(fake_openai, photo, deadline=Deadline.in_seconds(0.3))
    assert time.monotonic() - started < 2.0
    assert len(fake_openai.requests) == 1


async def test_slow_answer_within_the_deadline_completes(
    fake_openai: FakeOpenAI, photo: Path
) -> None:
    fake_openai.script(delay(0.3))
    result = await edit(fake_openai, photo)
    assert result.format == "PNG"
    assert fake_openai.disconnects == 0


def test_driver_is_registered_as_openai() -> None:
    provider = provider_for("openai")
    assert isinstance(provider, OpenAIProvider)
    assert provider.operations == ("edit",)
    assert provider.needs_public_urls is False
    assert provider.uses_template_images("edit")


def test_valid_settings_have_no_problems() -> None:
    settings = {
        "prompt": PROMPT,
        "model": "gpt-image-1",
        "size": "1536x1024",
        "output_format": "webp",
        "quality": "low",
        "max_attempts": 5,
    }
    assert OpenAIProvider().settings_problems("edit", settings) == {}
    assert OpenAIProvider().settings_problems("edit", {"prompt": PROMPT}) == {}


def test_unknown_operation_is_a_problem_of_the_operation() -> None:
    assert OpenAIProvider().settings_problems("generate", {"prompt": PROMPT}) == {
        "": "OpenAI has no operation “generate”; use “edit”."
    }


@pytest.mark.parametrize("prompt", [None, "", "   \n"])
def test_missing_or_blank_prompt_is_a_problem(prompt: object) -> None:
    assert OpenAIProvider().settings_problems("edit", {"prompt": prompt}) == {
        "prompt": "The prompt is required for OpenAI."
    }


def test_uppercase_values_and_jpg_are_valid() -> None:
    settings = {"prompt": PROMPT, "size": "AUTO", "output_format": "jpg", "quality": "HIGH"}
    assert OpenAIProvider().settings_problems("edit", settings) == {}


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("size", "512x512", "auto, 1024x1024, 1536x1024, 1024x1536"),
        ("output_format", "gif", "png, jpeg, webp"),
        ("quality", "ultra", "auto, low, medium, high"),
        ("model", "gpt-image-1/../../v1/files", "is not an OpenAI model name"),
        ("model", "gpt image 1", "is not an OpenAI model name"),
        ("max_attempts", 0, "from 1 to 10"),
        ("max_attempts", 11, "from 1 to 10"),
        ("max_attempts", "3", "from 1 to 10"),
        ("max_attempts", 2.5, "from 1 to 10"),
        ("max_attempts", True, "from 1 to 10"),
    ],
)
def test_bad_setting_is_named_with_a_message(setting: str, value: object, says: str) -> None:
    problems = OpenAIProvider().settings_problems("edit", {"prompt": PROMPT, setting: value})
    assert list(problems) == [setting]
    assert says in problems[setting]


def test_every_problem_is_named_at_once() -> None:
    problems = OpenAIProvider().settings_problems(
        "generate", {"model": "a/b", "size": "big", "max_attempts": 0, "base_url": "x"}
    )
    assert set(problems) == {"", "prompt", "model", "size", "max_attempts", "base_url"}
