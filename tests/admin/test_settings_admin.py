"""The settings page: the one settings row, its write-only password and provider keys."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from slots.keys import provider_api_key
from slots.models import GlobalSettings, ProviderKey
from slots.services import (
    ingest_password_check,
    ingest_password_set,
    provider_key_set,
    settings_get,
)

SETTINGS_PAGE = "/admin/slots/globalsettings/1/change/"
GEMINI_KEY = "AIzaSy-very-secret-gemini-key-31337"
OLD_PASSWORD = "old-booth-password"


def settings_form(**changes: object) -> dict[str, object]:
    row = settings_get()
    values = {
        "sync_response_seconds": row.sync_response_seconds,
        "result_ttl_hours": row.result_ttl_hours,
        "max_concurrent_jobs": row.max_concurrent_jobs,
        "public_base_url": row.public_base_url,
        "repeat_window_seconds": row.repeat_window_seconds,
        "gemini_call_price": row.gemini_call_price,
        "openai_call_price": row.openai_call_price,
        "turbotext_call_price": row.turbotext_call_price,
        # The "More API keys" inline, empty.
        "extra_keys-TOTAL_FORMS": "0",
        "extra_keys-INITIAL_FORMS": "0",
        "extra_keys-MIN_NUM_FORMS": "0",
        "extra_keys-MAX_NUM_FORMS": "1000",
        **changes,
    }
    return {name: value for name, value in values.items() if value is not None}


def page_text(client: Client, path: str = SETTINGS_PAGE) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_settings_list_opens_the_one_row(staff: Client) -> None:
    response = staff.get("/admin/slots/globalsettings/")
    assert response.status_code == 302
    assert response["Location"] == SETTINGS_PAGE


def test_settings_cannot_be_added_or_deleted(staff: Client) -> None:
    assert staff.get("/admin/slots/globalsettings/add/").status_code == 403
    assert staff.get("/admin/slots/globalsettings/1/delete/").status_code == 403


def test_the_stored_password_hash_and_keys_never_appear_in_the_page(staff: Client) -> None:
    ingest_password_set(password=OLD_PASSWORD, set_by="operator")
    provider_key_set(provider="gemini", key=GEMINI_KEY)
    stored_hash = GlobalSettings.objects.get().ingest_password_hash

    page = page_text(staff)
    # Refused for another field, the form is shown again: still without the secrets.
    refused = staff.post(SETTINGS_PAGE, settings_form(result_ttl_hours=0))
    again = html.unescape(refused.content.decode())

    for shown in (page, again):
        assert GEMINI_KEY not in shown
        assert stored_hash not in shown
        assert stored_hash.split("$")[-1] not in shown
        assert OLD_PASSWORD not in shown
    assert refused.status_code == 200


def test_the_page_says_since_when_a_key_is_configured_or_where_it_comes_from(
    staff: Client, settings: object
) -> None:
    provider_key_set(provider="gemini", key=GEMINI_KEY)
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": "env-key", "openai": ""}

    page = page_text(staff)

    assert "Configured since " in page
    assert "From the environment" in page
    assert "Not configured" in page


def test_a_new_ingest_password_replaces_the_old_one_and_says_who_set_it(staff: Client) -> None:
    ingest_password_set(password=OLD_PASSWORD, set_by="someone")

    response = staff.post(
        SETTINGS_PAGE,
        settings_form(new_ingest_password="new-booth-pw", new_ingest_password_again="new-booth-pw"),
    )

    assert response.status_code == 302
    row = GlobalSettings.objects.get()
    assert ingest_password_check(stored_hash=row.ingest_password_hash, candidate="new-booth-pw")
    assert not ingest_password_check(stored_hash=row.ingest_password_hash, candidate=OLD_PASSWORD)
    assert row.ingest_password_set_by == "operator"
    assert "by operator." in page_text(staff)


def test_two_different_passwords_are_refused(staff: Client) -> None:
    ingest_password_set(password=OLD_PASSWORD, set_by="someone")
    before = GlobalSettings.objects.get().ingest_password_hash

    response = staff.post(
        SETTINGS_PAGE,
        settings_form(new_ingest_password="new-booth-pw", new_ingest_password_again="new-booth-px"),
    )

    assert response.status_code == 200
    assert "The two passwords differ" in html.unescape(response.content.decode())
    assert GlobalSettings.objects.get().ingest_password_hash == before


def test_a_key_is_set_and_cleared_from_the_page(staff: Client) -> None:
    assert staff.post(SETTINGS_PAGE, settings_form(new_gemini_key=GEMINI_KEY)).status_code == 302
    row = GlobalSettings.objects.get()
    assert provider_api_key(settings=row, provider="gemini") == GEMINI_KEY
    assert row.gemini_api_key_set_at is not None

    assert staff.post(SETTINGS_PAGE, settings_form(clear_gemini_key="on")).status_code == 302
    row = GlobalSettings.objects.get()
    assert (row.gemini_api_key, row.gemini_api_key_set_at) == ("", None)


def test_saving_other_settings_keeps_the_password_and_keys(staff: Client) -> None:
    ingest_password_set(password=OLD_PASSWORD, set_by="someone")
    provider_key_set(provider="openai", key="sk-kept")
    before = GlobalSettings.objects.get()

    response = staff.post(
        SETTINGS_PAGE,
        settings_form(sync_response_seconds=30, result_ttl_hours=24, strict_upload_hash="on"),
    )

    assert response.status_code == 302
    row = GlobalSettings.objects.get()
    assert (row.sync_response_seconds, row.result_ttl_hours, row.strict_upload_hash) == (
        30,
        24,
        True,
    )
    assert row.ingest_password_hash == before.ingest_password_hash
    assert provider_api_key(settings=row, provider="openai") == "sk-kept"


@pytest.mark.parametrize(
    ("field", "value"), [("sync_response_seconds", 121), ("result_ttl_hours", 721)]
)
def test_out_of_range_settings_are_refused(staff: Client, field: str, value: int) -> None:
    response = staff.post(SETTINGS_PAGE, settings_form(**{field: value}))

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to" in html.unescape(response.content.decode())
    assert getattr(GlobalSettings.objects.get(), field) != value


def test_more_keys_are_added_on_the_settings_page_and_never_shown_back(staff: Client) -> None:
    form = settings_form() | {
        "extra_keys-TOTAL_FORMS": "1",
        "extra_keys-0-provider": "gemini",
        "extra_keys-0-label": "second account",
        "extra_keys-0-new_key": "AIzaSy-extra-secret",
    }

    response = staff.post(SETTINGS_PAGE, form)

    assert response.status_code == 302
    stored = ProviderKey.objects.get()
    assert (stored.provider, stored.label) == ("gemini", "second account")
    assert "AIzaSy-extra-secret" not in stored.secret
    page = page_text(staff)
    assert "second account" in page
    assert "AIzaSy-extra-secret" not in page
    assert "0 calls, rate-limited 0 times" in page


def test_a_new_extra_key_needs_its_key(staff: Client) -> None:
    form = settings_form() | {
        "extra_keys-TOTAL_FORMS": "1",
        "extra_keys-0-provider": "openai",
        "extra_keys-0-label": "backup",
    }

    page = html.unescape(staff.post(SETTINGS_PAGE, form).content.decode())

    assert "Enter the key." in page
    assert not ProviderKey.objects.exists()
