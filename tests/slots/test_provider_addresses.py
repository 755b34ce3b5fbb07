"""Provider keys go only to the provider's own address, which only the server's environment can
change (GEMINI_BASE_URL, …); keys are kept encrypted in the database."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from photochanger.tokens import api_token_create
from slots.keys import provider_api_key
from slots.models import GlobalSettings, Slot
from slots.services import provider_key_set
from tests.booth import Booth
from tests.fakes.gemini import FakeGemini, answer_image
from tests.roles import EVENT_ADMIN, staff_with_role

KEY = "AIza-secret-key-of-the-event"
GEMINI = {"provider": "gemini", "operation": "generate"}


@pytest.fixture
def attacker() -> FakeGemini:
    """A server that would love to receive the event's keys."""
    with FakeGemini() as fake:
        fake.script(answer_image("PNG", size=(8, 8)))
        yield fake


@pytest.fixture
def api(configured: None) -> Client:
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="t")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.mark.django_db
def test_a_slot_may_not_name_an_address(api: Client, attacker: FakeGemini) -> None:
    settings = {"prompt": "a painting", "base_url": attacker.base_url}

    response = api.patch(
        "/api/slots/slot-006", {**GEMINI, "settings": settings}, content_type="application/json"
    )

    assert response.status_code == 422
    reason = response.json()["errors"]["settings.base_url"]
    assert "GEMINI_BASE_URL" in reason
    assert Slot.objects.get(pk="slot-006").provider == "local"


@pytest.mark.django_db(transaction=True)
def test_a_test_run_may_not_send_the_key_elsewhere(
    booth: Booth, photo: bytes, attacker: FakeGemini
) -> None:
    provider_key_set(provider="gemini", key=KEY)
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="t")[1]
    overrides = {**GEMINI, "settings": {"prompt": "x", "base_url": attacker.base_url}}

    response = booth.http.post(
        "/api/slots/slot-001/test-run",
        files={"fileToUpload": ("t.jpg", photo, "image/jpeg")},
        data={"overrides": json.dumps(overrides)},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 422
    assert attacker.requests == []


@pytest.mark.django_db
def test_the_admin_refuses_an_address_in_the_settings(configured: None) -> None:
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss"))
    form = {
        "display_name": "Painting",
        "provider": "gemini",
        "operation": "generate",
        "settings": '{"prompt": "a painting", "base_url": "https://attacker.example"}',
        "size_limit_mb": "15",
        "on_failure": "error",
        "template_images-TOTAL_FORMS": "0",
        "template_images-INITIAL_FORMS": "0",
    }

    page = admin.post("/admin/slots/slot/slot-006/change/", form)

    assert page.status_code == 200  # the form again, with the reason
    assert "GEMINI_BASE_URL" in page.content.decode()
    assert Slot.objects.get(pk="slot-006").provider == "local"


@pytest.mark.django_db
def test_the_settings_page_shows_where_calls_go(configured: None, settings: object) -> None:
    settings.PROVIDER_BASE_URLS = {
        **settings.PROVIDER_BASE_URLS,
        "openai": "https://proxy.event.example",
    }
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss"))

    page = admin.get("/admin/slots/globalsettings/1/change/").content.decode()

    assert "Calls go to https://proxy.event.example." in page


@pytest.mark.django_db
def test_keys_are_stored_encrypted(api: Client) -> None:
    api.put("/api/settings/provider-keys/gemini", {"key": KEY}, content_type="application/json")

    row = GlobalSettings.objects.get()
    assert KEY not in row.gemini_api_key
    assert provider_api_key(settings=row, provider="gemini") == KEY


@pytest.mark.django_db
def test_a_key_stored_under_another_secret_key_reads_as_unreadable(api: Client) -> None:
    provider_key_set(provider="gemini", key=KEY)

    with override_settings(SECRET_KEY="a-different-installation-secret-" * 2):
        shown = api.get("/api/settings").json()["provider_keys"]["gemini"]
        used = provider_api_key(settings=GlobalSettings.objects.get(), provider="gemini")

    assert (shown["configured"], shown["unreadable"]) == (False, True)
    assert used == ""


@pytest.mark.django_db
def test_the_migration_encrypts_old_keys_and_forgets_slot_addresses(configured: None) -> None:
    migration = importlib.import_module("slots.migrations.0007_crew_ready")
    GlobalSettings.objects.update(gemini_api_key=KEY)
    Slot.objects.filter(pk="slot-006").update(
        settings={"prompt": "x", "base_url": "https://attacker.example"}
    )

    migration.encrypt_stored_keys(apps, None)
    migration.forget_slot_base_urls(apps, None)

    row = GlobalSettings.objects.get()
    assert KEY not in row.gemini_api_key
    assert provider_api_key(settings=row, provider="gemini") == KEY
    assert Slot.objects.get(pk="slot-006").settings == {"prompt": "x"}
