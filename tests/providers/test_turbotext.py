"""The turbotext driver against the fake Turbotext server, over real loopback HTTP."""

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
    ProviderRequest,
    ProviderResult,
    TemplateImageInput,
)
from providers.registry import provider_for
from providers.turbotext import TurbotextProvider
from tests.fakes.turbotext import (
    Behaviour,
    FakeTurbotext,
    done,
    fail,
    fail_on_result,
    http_error,
    never_finishes,
    reconnect_then,
    result_404_once,
)

# The fixture, bound here so pytest finds it (an import would be flagged as shadowed by ruff).
pytestmark = pytest.mark.anyio

KEY = "tt-test-key-0123456789abcdef"
PROMPT = "a knight in shining armour"
PHOTO_URL = "https://booth.example/public/provider-media/photo-0001"
STYLE_URL = "https://booth.example/public/provider-media/style-0002"
BACKGROUND_URL = "https://booth.example/public/provider-media/background-0003"
STYLE = TemplateImageInput(role="style", content_type="image/png", data=b"", url=STYLE_URL)
BACKGROUND = TemplateImageInput(
    role="background", content_type="image/jpeg", data=b"", url=BACKGROUND_URL
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def turbotext_request(
    fake: FakeTurbotext,
    *,
    operation: str = "generate_image2image",
    api_key: str = KEY,
    photo_url: str = PHOTO_URL,
    templates: tuple[TemplateImageInput, ...] = (),
    deadline: Deadline | None = None,
    **settings: object,
) -> ProviderRequest:
    base = {"poll_seconds": 0.05, "min_queue_seconds": 0}
    if operation == "generate_image2image":
        base["content"] = PROMPT
    return ProviderRequest(
        job_id="job-1",
        # Turbotext fetches the photo by URL; the driver never opens the file.
        photo_path=Path("/nonexistent/photo.jpg"),
        photo_format="JPEG",
        photo_orientation=1,
        operation=operation,
        settings={**base, **settings},
        template_images=list(templates),
        api_key=api_key,
        deadline=deadline or Deadline.in_seconds(30),
        photo_url=photo_url,
    )


async def run(fake: FakeTurbotext, **options: object) -> ProviderResult:
    return await TurbotextProvider().process(turbotext_request(fake, **options))


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# Results


async def test_reconnects_then_top_level_uploaded_image_is_returned(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(reconnect_then(3, done("JPEG", where="top")))
    result = await run(fake_turbotext)
    (queue,) = fake_turbotext.queues
    assert result.format == "JPEG"
    assert result.data == fake_turbotext.result_image(queue)
    assert queue.polls == 4
    assert [request.form for request in fake_turbotext.requests_with("get_result")] == [
        {"do": "get_result", "queueid": str(queue.id)}
    ] * 4


async def test_relative_data_image_path_is_joined_to_the_base_url(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(done("PNG", where="image_list_relative"))
    result = await run(fake_turbotext)
    (queue,) = fake_turbotext.queues
    assert result.format == "PNG"
    assert image_size(result.data) == (48, 32)
    assert [download.path for download in fake_turbotext.downloads()] == [queue.result_path]


async def test_data_uploaded_image_is_returned(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(done("JPEG", where="data"))
    result = await run(fake_turbotext)
    assert result.data == fake_turbotext.result_image(fake_turbotext.queues[0])


async def test_result_answering_404_once_is_downloaded_again(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(result_404_once(done("PNG")))
    result = await run(fake_turbotext)
    assert result.format == "PNG"
    assert len(fake_turbotext.downloads()) == 2
    assert len(fake_turbotext.requests_with("create_queue")) == 1


async def test_result_that_stays_missing_is_a_permanent_error_without_a_new_queue(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(Behaviour(result_404s=100))
    with pytest.raises(ProviderError, match=r"cannot download the turbotext result \(HTTP 404\)"):
        await run(fake_turbotext)
    assert len(fake_turbotext.downloads()) == 5
    assert len(fake_turbotext.requests_with("create_queue")) == 1


async def test_result_download_carries_no_key(fake_turbotext: FakeTurbotext) -> None:
    await run(fake_turbotext)
    (download,) = fake_turbotext.downloads()
    assert "authorization" not in download.headers


# Turbotext's refusals


async def test_limit_is_a_permanent_error_about_the_account_limit(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(fail("LIMIT"))
    with pytest.raises(ProviderError, match=r"reached its limit .*\(LIMIT\)") as raised:
        await run(fake_turbotext)
    assert not raised.value.retryable
    assert len(fake_turbotext.requests_with("create_queue")) == 1


async def test_face_not_detected_is_a_permanent_error(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(reconnect_then(1, fail_on_result("face_not_detected")))
    with pytest.raises(ProviderError, match="no face in the photo") as raised:
        await run(fake_turbotext, operation="deepfake_photo", templates=(BACKGROUND,))
    assert not raised.value.retryable
    assert len(fake_turbotext.queues) == 1


async def test_url_error_points_at_the_public_base_url(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail_on_result("url_error"))
    with pytest.raises(ProviderError, match="public base URL reachable") as raised:
        await run(fake_turbotext)
    assert not raised.value.retryable
    assert len(fake_turbotext.queues) == 1


async def test_error_in_a_message_field_is_understood(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail("LIMIT", field="message"))
    with pytest.raises(ProviderError, match="reached its limit"):
        await run(fake_turbotext)


async def test_error_in_an_errors_list_is_understood(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail_on_result("face_not_detected", field="errors"))
    with pytest.raises(ProviderError, match="no face in the photo"):
        await run(fake_turbotext)


async def test_unknown_error_is_passed_through(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail("content_policy_violation"))
    with pytest.raises(ProviderError, match="content_policy_violation") as raised:
        await run(fake_turbotext)
    assert not raised.value.retryable


async def test_key_echoed_in_an_error_is_redacted_in_messages_and_logs(
    fake_turbotext: FakeTurbotext, caplog: pytest.LogCaptureFixture
) -> None:
    fake_turbotext.script(fail(f"key {KEY} is blocked"))
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError, match="blocked") as raised:
        await run(fake_turbotext)
    assert KEY not in str(raised.value)
    assert KEY not in caplog.text


# Retries


async def test_provider_busy_is_retried_with_a_new_queue(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail("provider_busy"), done())
    result = await run(fake_turbotext)
    assert result.format == "JPEG"
    assert len(fake_turbotext.requests_with("create_queue")) == 2
    assert len(fake_turbotext.queues) == 1


async def test_provider_busy_on_the_result_is_retried_with_a_new_queue(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(fail_on_result("provider_busy"), done())
    result = await run(fake_turbotext)
    assert result.data == fake_turbotext.result_image(fake_turbotext.queues[1])
    assert len(fake_turbotext.queues) == 2


@pytest.mark.parametrize("status", [429, 502, 503])
async def test_overload_on_create_queue_is_retried(
    fake_turbotext: FakeTurbotext, status: int
) -> None:
    fake_turbotext.script(http_error(status), done())
    result = await run(fake_turbotext)
    assert result.format == "JPEG"
    assert len(fake_turbotext.requests_with("create_queue")) == 2


async def test_client_error_on_create_queue_is_not_retried(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(http_error(400))
    with pytest.raises(ProviderError, match="HTTP 400") as raised:
        await run(fake_turbotext)
    assert not raised.value.retryable
    assert len(fake_turbotext.requests_with("create_queue")) == 1


async def test_attempts_stop_at_max_attempts(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(*[fail("provider_busy")] * 3)
    with pytest.raises(ProviderError, match=r"busy .*after 2 attempts") as raised:
        await run(fake_turbotext, max_attempts=2)
    assert raised.value.retryable
    assert len(fake_turbotext.requests_with("create_queue")) == 2


async def test_no_retry_queue_when_too_little_time_is_left(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(fail("provider_busy"))
    with pytest.raises(ProviderError, match="not enough time left") as raised:
        # A queue fits (6 s left, 5.5 needed), but not a second one after a 1 s wait.
        await run(
            fake_turbotext, min_queue_seconds=5.5, poll_seconds=1, deadline=Deadline.in_seconds(6)
        )
    assert raised.value.retryable
    assert len(fake_turbotext.requests_with("create_queue")) == 1


async def test_new_queues_back_off_from_poll_seconds(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(fail("provider_busy"), fail("provider_busy"), done())
    await run(fake_turbotext, poll_seconds=0.3)
    first, second, third = (
        request.received_at for request in fake_turbotext.requests_with("create_queue")
    )
    # poll_seconds, then twice that: not the 1 s and 2 s that Gemini and OpenAI wait.
    assert 0.28 <= second - first < 0.9
    assert 0.58 <= third - second < 1.5


async def test_retry_queue_is_created_while_min_queue_seconds_remain(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(fail("provider_busy"), done())
    await run(
        fake_turbotext, min_queue_seconds=2, poll_seconds=0.1, deadline=Deadline.in_seconds(5)
    )
    assert len(fake_turbotext.requests_with("create_queue")) == 2


async def test_retry_is_logged_without_the_key(
    fake_turbotext: FakeTurbotext, caplog: pytest.LogCaptureFixture
) -> None:
    fake_turbotext.script(fail("provider_busy"), done())
    with caplog.at_level(logging.WARNING):
        await run(fake_turbotext)
    assert "turbotext attempt 1 of 3 for job job-1 failed (turbotext is busy" in caplog.text
    assert "retrying in 0.1 s" in caplog.text
    assert KEY not in caplog.text


async def test_no_queue_is_created_when_too_little_time_is_left(
    fake_turbotext: FakeTurbotext,
) -> None:
    request = turbotext_request(fake_turbotext, deadline=Deadline.in_seconds(3))
    del request.settings["min_queue_seconds"]  # the default: 10 s
    with pytest.raises(ProviderError, match="not enough time left") as raised:
        await TurbotextProvider().process(request)
    assert raised.value.retryable
    assert fake_turbotext.requests == []


async def test_unreachable_server_is_a_retryable_error(settings: object) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.PROVIDER_BASE_URLS = {
        **settings.PROVIDER_BASE_URLS,
        "turbotext": f"http://127.0.0.1:{port}",
    }
    request = ProviderRequest(
        job_id="job-1",
        photo_path=Path("/nonexistent/photo.jpg"),
        photo_format="JPEG",
        photo_orientation=1,
        operation="generate_image2image",
        settings={"content": PROMPT, "max_attempts": 1},
        api_key=KEY,
        deadline=Deadline.in_seconds(30),
        photo_url=PHOTO_URL,
    )
    with pytest.raises(ProviderError, match="cannot connect") as raised:
        await TurbotextProvider().process(request)
    assert raised.value.retryable


# The deadline


async def test_cancelled_call_closes_its_held_poll(fake_turbotext: FakeTurbotext) -> None:
    fake_turbotext.script(never_finishes())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run(fake_turbotext), 1.0)
    for _ in range(100):
        if fake_turbotext.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake_turbotext.disconnects == 1
    polls = len(fake_turbotext.requests_with("get_result"))
    await asyncio.sleep(0.2)
    assert len(fake_turbotext.requests_with("get_result")) == polls  # nobody polls anymore


async def test_queue_that_never_finishes_fails_at_the_deadline(
    fake_turbotext: FakeTurbotext,
) -> None:
    fake_turbotext.script(never_finishes(hold_seconds=0))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not finish in time") as raised:
        await run(fake_turbotext, deadline=Deadline.in_seconds(0.5))
    assert time.monotonic() - started < 1.5
    assert raised.value.retryable
    assert len(fake_turbotext.requests_with("get_result")) >= 3


# What is sent


async def test_generate_image2image_sends_its_form_and_key(fake_turbotext: FakeTurbotext) -> None:
    await run(fake_turbotext)
    create, *_ = fake_turbotext.requests
    assert create.method == "POST"
    assert create.path == "/api_ai/generate_image2image"
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert create.form == {
        "do": "create_queue",
        "url": PHOTO_URL,
        "content": PROMPT,
        "strength": "40",
    }
    poll = fake_turbotext.requests_with("get_result")[0]
    assert poll.path == "/api_ai/generate_image2image"
    assert poll.headers["authorization"] == f"Bearer {KEY}"


async def test_generate_image2image_sends_its_optional_settings(
    fake_turbotext: FakeTurbotext,
) -> None:
    await run(
        fake_turbotext,
        strength=65,
        seed=1234,
        scale=7.5,
        negative_prompt="blurry",
        original_language="ru",
    )
    assert fake_turbotext.requests_with("create_queue")[0].form == {
        "do": "create_queue",
        "url": PHOTO_URL,
        "content": PROMPT,
        "strength": "65",
        "seed": "1234",
        "scale": "7.5",
        "negative_prompt": "blurry",
        "original_language": "ru",
    }


async def test_numbers_written_as_text_are_sent_as_numbers(
    fake_turbotext: FakeTurbotext,
) -> None:
    await run(fake_turbotext, strength="65", seed="1234", scale=" 7.5 ")
    form = fake_turbotext.requests_with("create_queue")[0].form
    assert (form["strength"], form["seed"], form["scale"]) == ("65", "1234", "7.5")


async def test_prompt_setting_is_accepted_as_content(fake_turbotext: FakeTurbotext) -> None:
    request = turbotext_request(fake_turbotext)
    del request.settings["content"]
    request.settings["prompt"] = "a pirate"
    await TurbotextProvider().process(request)
    assert fake_turbotext.requests_with("create_queue")[0].form["content"] == "a pirate"


async def test_mix_images_sends_the_photo_as_target_and_the_style_as_url(
    fake_turbotext: FakeTurbotext,
) -> None:
    await run(fake_turbotext, operation="mix_images", templates=(BACKGROUND, STYLE))
    create = fake_turbotext.requests_with("create_queue")[0]
    assert create.path == "/api_ai/mix_images"
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.form == {"do": "create_queue", "url_image_target": PHOTO_URL, "url": STYLE_URL}


async def test_mix_images_sends_content_when_set(fake_turbotext: FakeTurbotext) -> None:
    await run(fake_turbotext, operation="mix_images", templates=(STYLE,), content="oil paint")
    assert fake_turbotext.requests_with("create_queue")[0].form == {
        "do": "create_queue",
        "url_image_target": PHOTO_URL,
        "url": STYLE_URL,
        "content": "oil paint",
    }


async def test_deepfake_photo_puts_the_guest_face_into_the_background(
    fake_turbotext: FakeTurbotext,
) -> None:
    await run(fake_turbotext, operation="deepfake_photo", templates=(STYLE, BACKGROUND))
    create = fake_turbotext.requests_with("create_queue")[0]
    assert create.path == "/api_ai/deepfake_photo"
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.form == {
        "do": "create_queue",
        "url": BACKGROUND_URL,
        "url_image_target": PHOTO_URL,
        "face_restore": "True",
    }


async def test_deepfake_photo_sends_face_restore_off(fake_turbotext: FakeTurbotext) -> None:
    await run(
        fake_turbotext, operation="deepfake_photo", templates=(BACKGROUND,), face_restore=False
    )
    assert fake_turbotext.requests_with("create_queue")[0].form["face_restore"] == "False"


# Refused before any request


async def test_mix_images_without_a_style_template_is_refused(
    fake_turbotext: FakeTurbotext,
) -> None:
    with pytest.raises(ProviderError, match="role 'style'") as raised:
        await run(fake_turbotext, operation="mix_images", templates=(BACKGROUND,))
    assert not raised.value.retryable
    assert fake_turbotext.requests == []


async def test_deepfake_photo_without_a_background_template_is_refused(
    fake_turbotext: FakeTurbotext,
) -> None:
    with pytest.raises(ProviderError, match="role 'background'") as raised:
        await run(fake_turbotext, operation="deepfake_photo", templates=(STYLE,))
    assert not raised.value.retryable
    assert fake_turbotext.requests == []


async def test_missing_photo_url_names_the_public_base_url_setting(
    fake_turbotext: FakeTurbotext,
) -> None:
    with pytest.raises(ProviderError, match="public base URL setting is not configured") as raised:
        await run(fake_turbotext, photo_url="")
    assert not raised.value.retryable
    assert fake_turbotext.requests == []


async def test_missing_key_is_refused_without_a_request(fake_turbotext: FakeTurbotext) -> None:
    with pytest.raises(ProviderError, match="turbotext API key is not configured") as raised:
        await run(fake_turbotext, api_key="")
    assert not raised.value.retryable
    assert fake_turbotext.requests == []


async def test_invalid_settings_are_refused_without_a_request(
    fake_turbotext: FakeTurbotext,
) -> None:
    with pytest.raises(ProviderError, match="strength") as raised:
        await run(fake_turbotext, strength=95)
    assert not raised.value.retryable
    assert fake_turbotext.requests == []


# The driver's description


def test_turbotext_is_registered_and_fetches_inputs_by_url() -> None:
    provider = provider_for("turbotext")
    assert isinstance(provider, TurbotextProvider)
    assert provider.needs_public_urls
    assert provider.uses_template_images("mix_images")
    assert provider.uses_template_images("deepfake_photo")
    assert not provider.uses_template_images("generate_image2image")


def test_valid_settings_have_no_problems() -> None:
    problems = TurbotextProvider().settings_problems(
        "generate_image2image",
        {
            "content": PROMPT,
            "strength": 80,
            "seed": 7,
            "scale": 7.5,
            "poll_seconds": 0.05,
            "anything_else": "is fine",
        },
    )
    assert problems == {}


def test_deepfake_settings_need_no_prompt() -> None:
    provider = TurbotextProvider()
    assert provider.settings_problems("deepfake_photo", {"face_restore": False}) == {}
    assert provider.settings_problems("mix_images", {}) == {}


def test_unknown_operation_is_a_problem() -> None:
    problems = TurbotextProvider().settings_problems("generate", {})
    assert set(problems) == {""}
    assert "generate_image2image" in problems[""]


def test_missing_prompt_is_a_problem_for_generate_image2image() -> None:
    problems = TurbotextProvider().settings_problems("generate_image2image", {"content": "  "})
    assert set(problems) == {"content"}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("strength", 81),
        ("strength", -1),
        ("strength", 40.5),
        ("strength", "lots"),
        ("strength", True),
        ("seed", "abc"),
        ("scale", [7]),
        ("face_restore", "yes"),
        ("poll_seconds", 0.01),
        ("poll_seconds", 11),
    ],
)
def test_bad_setting_is_a_problem_by_name(setting: str, value: object) -> None:
    problems = TurbotextProvider().settings_problems(
        "generate_image2image", {"content": PROMPT, setting: value}
    )
    assert set(problems) == {setting}
    assert problems[setting]
