"""GET/PATCH /api/settings, PUT …/ingest-password, PUT/DELETE …/provider-keys/{provider}."""

from __future__ import annotations

import pytest
from django.test import Client

from slots.keys import provider_api_key
from slots.models import GlobalSettings
from slots.services import ingest_password_check, ingest_password_set, provider_key_set

pytestmark = pytest.mark.django_db

GEMINI_KEY = "AIzaSy-test-gemini-key-0001"
OPENAI_KEY = "sk-test-openai-key-0002"
TURBOTEXT_ENV_KEY = "tt-env-key-0003"


def send_json(client: Client, method: str, path: str, body: object, **headers: str):
    return getattr(client, method)(path, body, content_type="application/json", headers=headers)


def test_settings_show_values_and_no_secrets_when_none_are_set(
    api: Client, settings: object
) -> None:
    response = api.get("/api/settings")

    assert response.status_code == 200
    assert response.json() == {
        "sync_response_seconds": 48,
        "result_ttl_hours": 72,
        "max_concurrent_jobs": 30,
        "public_base_url": "",
        "strict_upload_hash": False,
        "repeat_window_seconds": 120,
        "gemini_call_price": "0.0000",
        "openai_call_price": "0.0000",
        "turbotext_call_price": "0.0000",
        "daily_paid_calls_cap": None,
        "ingest_password": {"set": False, "set_at": None, "set_by": None},
        "provider_keys": {
            provider: {
                "configured": False,
                "configured_since": None,
                "source": None,
                "base_url": settings.PROVIDER_BASE_URLS[provider],
                "unreadable": False,
            }
            for provider in ("gemini", "turbotext", "openai")
        },
        "api_keys": [],
    }


def test_patch_changes_the_settings(api: Client) -> None:
    changes = {
        "sync_response_seconds": 30,
        "result_ttl_hours": 24,
        "max_concurrent_jobs": 8,
        "public_base_url": "https://photos.example.org",
        "strict_upload_hash": True,
    }

    response = send_json(api, "patch", "/api/settings", changes)

    assert response.status_code == 200
    assert {name: response.json()[name] for name in changes} == changes
    row = GlobalSettings.objects.get()
    assert {name: getattr(row, name) for name in changes} == changes


def test_patch_leaves_fields_not_sent_alone(api: Client) -> None:
    send_json(api, "patch", "/api/settings", {"result_ttl_hours": 12})

    row = GlobalSettings.objects.get()
    assert (row.result_ttl_hours, row.sync_response_seconds) == (12, 48)


def test_public_base_url_may_be_cleared(api: Client) -> None:
    GlobalSettings.objects.update(public_base_url="https://photos.example.org")

    response = send_json(api, "patch", "/api/settings", {"public_base_url": ""})

    assert response.status_code == 200
    assert GlobalSettings.objects.get().public_base_url == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sync_response_seconds": 4}, "sync_response_seconds"),
        ({"sync_response_seconds": 121}, "sync_response_seconds"),
        ({"result_ttl_hours": 0}, "result_ttl_hours"),
        ({"result_ttl_hours": 721}, "result_ttl_hours"),
        ({"max_concurrent_jobs": 0}, "max_concurrent_jobs"),
        ({"max_concurrent_jobs": "many"}, "max_concurrent_jobs"),
        ({"public_base_url": "not a url"}, "public_base_url"),
        ({"public_base_url": None}, "public_base_url"),
        ({"strict_upload_hash": None}, "strict_upload_hash"),
        ({"ingest_password_hash": "pbkdf2_sha256$1$x$y"}, "ingest_password_hash"),
        ({"gemini_api_key": GEMINI_KEY}, "gemini_api_key"),
    ],
)
def test_invalid_or_unknown_setting_is_422_naming_it(
    api: Client, changes: dict, field: str
) -> None:
    response = send_json(api, "patch", "/api/settings", changes)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    row = GlobalSettings.objects.get()
    assert (row.sync_response_seconds, row.result_ttl_hours, row.max_concurrent_jobs) == (
        48,
        72,
        30,
    )
    assert (row.public_base_url, row.ingest_password_hash, row.gemini_api_key) == ("", "", "")


def test_new_ingest_password_is_stored_hashed_and_named_by_whom(api: Client) -> None:
    response = send_json(api, "put", "/api/settings/ingest-password", {"password": "event-2026"})

    assert response.status_code == 204
    row = GlobalSettings.objects.get()
    assert "event-2026" not in row.ingest_password_hash
    assert ingest_password_check(stored_hash=row.ingest_password_hash, candidate="event-2026")
    shown = api.get("/api/settings").json()["ingest_password"]
    assert shown["set"] is True
    assert shown["set_by"] == "operator"
    assert shown["set_at"] is not None


def test_new_ingest_password_replaces_the_old_one(api: Client) -> None:
    ingest_password_set(password="old-password", set_by="tests")

    send_json(api, "put", "/api/settings/ingest-password", {"password": "new-password"})

    stored = GlobalSettings.objects.get().ingest_password_hash
    assert not ingest_password_check(stored_hash=stored, candidate="old-password")


@pytest.mark.parametrize("body", [{"password": "12345"}, {"password": ""}, {}, {"pw": "x" * 8}])
def test_short_or_missing_ingest_password_is_422(api: Client, body: dict) -> None:
    response = send_json(api, "put", "/api/settings/ingest-password", body)

    assert response.status_code == 422
    assert set(response.json()["errors"]) & {"password", "pw"}
    assert GlobalSettings.objects.get().ingest_password_hash == ""


@pytest.mark.parametrize("provider", ["gemini", "turbotext", "openai"])
def test_provider_key_is_stored_and_shown_as_configured(api: Client, provider: str) -> None:
    response = send_json(
        api, "put", f"/api/settings/provider-keys/{provider}", {"key": f"  {GEMINI_KEY} "}
    )

    assert response.status_code == 204
    row = GlobalSettings.objects.get()
    assert provider_api_key(settings=row, provider=provider) == GEMINI_KEY
    shown = api.get("/api/settings").json()["provider_keys"][provider]
    assert shown["configured"] is True
    assert shown["source"] == "settings"
    assert shown["configured_since"] is not None


def test_deleting_a_provider_key_clears_it(api: Client) -> None:
    provider_key_set(provider="openai", key=OPENAI_KEY)

    response = api.delete("/api/settings/provider-keys/openai")

    assert response.status_code == 204
    assert GlobalSettings.objects.get().openai_api_key == ""
    shown = api.get("/api/settings").json()["provider_keys"]["openai"]
    assert (shown["configured"], shown["configured_since"], shown["source"]) == (False, None, None)


def test_key_from_the_environment_counts_as_configured(api: Client, settings: object) -> None:
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": TURBOTEXT_ENV_KEY, "openai": ""}

    shown = api.get("/api/settings").json()["provider_keys"]["turbotext"]

    assert (shown["configured"], shown["configured_since"], shown["source"]) == (
        True,
        None,
        "environment",
    )


def test_key_set_by_staff_wins_over_the_environment(api: Client, settings: object) -> None:
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": TURBOTEXT_ENV_KEY, "openai": ""}
    provider_key_set(provider="turbotext", key="tt-staff-key")

    shown = api.get("/api/settings").json()["provider_keys"]["turbotext"]

    assert shown["source"] == "settings"
    assert shown["configured_since"] is not None


def test_unknown_provider_is_422_naming_it(api: Client) -> None:
    response = send_json(api, "put", "/api/settings/provider-keys/dalle", {"key": "x"})

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"provider"}


@pytest.mark.parametrize("body", [{"key": ""}, {"key": "   "}, {}, {"key": 12345}])
def test_empty_or_missing_key_is_422_naming_it(api: Client, body: dict) -> None:
    provider_key_set(provider="gemini", key=GEMINI_KEY)

    response = send_json(api, "put", "/api/settings/provider-keys/gemini", body)

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"key"}
    assert provider_api_key(settings=GlobalSettings.objects.get(), provider="gemini") == GEMINI_KEY


def test_secrets_never_appear_in_any_answer(api: Client, settings: object) -> None:
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": TURBOTEXT_ENV_KEY, "openai": ""}
    answers = [
        send_json(api, "put", "/api/settings/ingest-password", {"password": "event-secret"}),
        send_json(api, "put", "/api/settings/provider-keys/gemini", {"key": GEMINI_KEY}),
        send_json(api, "put", "/api/settings/provider-keys/openai", {"key": OPENAI_KEY}),
        send_json(api, "put", "/api/settings/provider-keys/gemini", {"key": ""}),
        send_json(api, "put", "/api/settings/ingest-password", {"password": "short"}),
        send_json(api, "patch", "/api/settings", {"result_ttl_hours": 24}),
        send_json(api, "patch", "/api/settings", {"openai_api_key": OPENAI_KEY}),
        send_json(api, "patch", "/api/settings", {"ingest_password_hash": "x"}),
        api.get("/api/settings"),
        api.get("/api/slots"),
        api.get("/api/slots/slot-001"),
    ]
    stored_hash = GlobalSettings.objects.get().ingest_password_hash
    secrets = [
        stored_hash,
        stored_hash.split("$")[-1],  # the digest alone
        "event-secret",
        GEMINI_KEY,
        OPENAI_KEY,
        TURBOTEXT_ENV_KEY,
    ]

    for answer in answers:
        body = answer.content.decode()
        for secret in secrets:
            assert secret not in body, (answer.status_code, body)
