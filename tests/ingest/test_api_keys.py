"""Several API keys per provider: calls spread over them, a rate-limited key rests for the time
Gemini asks while the call goes on with another, an invalid key is put aside and shown as such,
and each key has its counters; all through the booth's endpoint and the staff API, against the
fake Gemini."""

from __future__ import annotations

import pytest

from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini, answer_image, error
from tests.images import jpeg_bytes
from tests.roles import EVENT_ADMIN, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = "slot-006"
MAIN, SECOND, THIRD = "AIzaSy-main-key", "AIzaSy-second-key", "AIzaSy-third-key"


@pytest.fixture
def admin_headers(booth: Booth) -> dict[str, str]:
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="tests")[1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gemini_slot(booth: Booth, fake_gemini: FakeGemini, admin_headers: dict[str, str]) -> str:
    GlobalSettings.objects.update(gemini_api_key=MAIN)
    for label, key in (("second account", SECOND), ("third account", THIRD)):
        added = booth.http.post(
            "/api/settings/provider-keys/gemini/more",
            json={"label": label, "key": key},
            headers=admin_headers,
        )
        assert added.status_code == 201, added.text
        assert key not in added.text
    Slot.objects.filter(pk=SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": "watercolour", "max_attempts": 2},
    )
    return SLOT


def keys_used(fake: FakeGemini) -> list[str]:
    return [request.headers["x-goog-api-key"] for request in fake.requests]


def api_keys(booth: Booth, headers: dict[str, str]) -> dict[str, dict]:
    reply = booth.http.get("/api/settings", headers=headers)
    assert MAIN not in reply.text
    assert SECOND not in reply.text
    return {key["label"]: key for key in reply.json()["api_keys"]}


def test_calls_spread_over_the_keys(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, admin_headers: dict[str, str]
) -> None:
    fake_gemini.script(*(answer_image() for _ in range(3)))

    for n in range(3):
        assert booth.post_photo(SLOT, jpeg_bytes((640, 480 + n))).status_code == 200

    assert keys_used(fake_gemini) == [MAIN, SECOND, THIRD]
    counters = {label: key["calls"] for label, key in api_keys(booth, admin_headers).items()}
    assert counters == {"main": 1, "second account": 1, "third account": 1}


def test_a_rate_limited_key_rests_and_the_next_key_answers_at_once(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, admin_headers: dict[str, str]
) -> None:
    fake_gemini.script(
        error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", retry_delay="60s"),
        answer_image(),
        answer_image(),
        answer_image(),
    )

    first = booth.post_photo(SLOT, jpeg_bytes((640, 480)))
    later = [booth.post_photo(SLOT, jpeg_bytes((640, 481 + n))) for n in range(2)]

    assert first.status_code == 200, first.text
    assert [answer.status_code for answer in later] == [200, 200]
    # The main key rests its 60 s: the next photos go to the other two.
    assert keys_used(fake_gemini) == [MAIN, SECOND, THIRD, SECOND]
    main = api_keys(booth, admin_headers)["main"]
    assert (main["rate_limited"], main["resting_until"] is not None) == (1, True)


def test_an_invalid_key_is_put_aside_and_shown_as_such(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, admin_headers: dict[str, str]
) -> None:
    fake_gemini.script(
        error(400, "INVALID_ARGUMENT", "API key not valid.", reason="API_KEY_INVALID"),
        answer_image(),
        answer_image(),
    )

    answers = [booth.post_photo(SLOT, jpeg_bytes((640, 480 + n))) for n in range(2)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert keys_used(fake_gemini) == [MAIN, SECOND, THIRD]
    main = api_keys(booth, admin_headers)["main"]
    assert main["invalid_since"] is not None
    assert "API_KEY_INVALID" in main["invalid_reason"]


def test_with_every_key_resting_the_photo_waits_only_if_the_deadline_allows(
    booth: Booth, gemini_slot: str, fake_gemini: FakeGemini
) -> None:
    limited = error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", retry_delay="60s")
    fake_gemini.script(limited, limited, limited)

    answer = booth.post_photo(SLOT, jpeg_bytes((640, 480)))

    assert answer.status_code == 502
    assert "not enough time left" in answer.json()["details"]
    assert keys_used(fake_gemini) == [MAIN, SECOND, THIRD]


def test_an_extra_key_is_removed(
    booth: Booth, gemini_slot: str, admin_headers: dict[str, str]
) -> None:
    second = api_keys(booth, admin_headers)["second account"]

    removed = booth.http.request(
        "DELETE", f"/api/settings/provider-keys/more/{second['id']}", headers=admin_headers
    )
    again = booth.http.request(
        "DELETE", f"/api/settings/provider-keys/more/{second['id']}", headers=admin_headers
    )

    assert (removed.status_code, again.status_code) == (204, 404)
    assert set(api_keys(booth, admin_headers)) == {"main", "third account"}
