"""A slot that cannot work is saved, but says what it lacks: in the API's answer, the admin's
message and slot list, the stats page, /healthz?slots=1 and the server's start-up output."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from slots.services import provider_key_set
from tests.images import image_bytes
from tests.live import ServerProcess
from tests.roles import EVENT_ADMIN, EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db

GEMINI = {"provider": "gemini", "operation": "generate", "settings": {"prompt": "a painting"}}


@pytest.fixture
def api(configured: None) -> Client:
    token = api_token_create(user=staff_with_role("crew", EVENT_ADMIN), name="t")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def no_env_keys(settings: object) -> None:
    settings.PROVIDER_API_KEYS = {"gemini": "", "turbotext": "", "openai": ""}


def patch(api: Client, slot_id: str, body: dict) -> dict:
    response = api.patch(f"/api/slots/{slot_id}", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_gemini_slot_without_a_key_is_saved_but_not_ready(api: Client, no_env_keys: None) -> None:
    slot = patch(api, "slot-006", {**GEMINI, "is_active": True})

    assert slot["is_active"] is True
    assert slot["ready"] is False
    assert any("Gemini API key" in line and "GEMINI_API_KEY" in line for line in slot["missing"])


def test_the_key_makes_it_ready(api: Client, no_env_keys: None) -> None:
    patch(api, "slot-006", {**GEMINI, "is_active": True})
    provider_key_set(provider="gemini", key="AIza-test")

    slot = api.get("/api/slots/slot-006").json()

    assert (slot["ready"], slot["missing"]) == (True, [])


def test_a_frame_slot_needs_its_overlay(api: Client) -> None:
    # slot-005 is the fresh install's frame slot, switched off until it has an overlay.
    slot = patch(api, "slot-005", {"is_active": True})
    assert any("overlay" in line for line in slot["missing"])

    overlay = SimpleUploadedFile("frame.png", image_bytes("PNG"), content_type="image/png")
    api.post("/api/slots/slot-005/template-images", {"role": "overlay", "file": overlay})

    assert api.get("/api/slots/slot-005").json()["ready"] is True


def test_a_turbotext_slot_needs_the_public_base_url(api: Client) -> None:
    provider_key_set(provider="turbotext", key="tt-key")
    body = {"provider": "turbotext", "operation": "generate_image2image"}
    slot = patch(api, "slot-007", {**body, "settings": {"content": "x"}, "is_active": True})
    assert any("public base URL" in line for line in slot["missing"])

    GlobalSettings.objects.update(public_base_url="https://booth.example.org")

    assert api.get("/api/slots/slot-007").json()["missing"] == []


def test_the_admin_warns_on_save_and_the_list_marks_it(configured: None, no_env_keys: None) -> None:
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss"))
    form = {
        "display_name": "Painting",
        "is_active": "on",
        "provider": "gemini",
        "operation": "generate",
        "settings": '{"prompt": "a painting"}',
        "size_limit_mb": "15",
        "on_failure": "error",
        "max_concurrent_jobs": "",
        "template_images-TOTAL_FORMS": "0",
        "template_images-INITIAL_FORMS": "0",
    }

    saved = admin.post("/admin/slots/slot/slot-006/change/", form, follow=True)

    assert Slot.objects.get(pk="slot-006").is_active
    warnings = [str(message) for message in saved.context["messages"]]
    assert any("not ready" in text and "Gemini API key" in text for text in warnings), warnings
    listing = admin.get("/admin/slots/slot/").content.decode()
    # This one, and the fresh install's frame slot that still lacks its overlay.
    assert listing.count('class="not-ready"') == 2


def test_the_stats_page_names_active_slots_that_are_not_ready(
    configured: None, no_env_keys: None
) -> None:
    Slot.objects.filter(pk="slot-006").update(is_active=True, **GEMINI)
    client = Client()
    client.force_login(staff_with_role("watcher", EVENT_OPERATOR))

    page = client.get("/admin/stats/").content.decode()

    assert 'id="slots-not-ready"' in page
    assert "slot-006" in page
    assert "Gemini API key" in page


def test_healthz_lists_each_active_slots_readiness_for_staff(
    configured: None, no_env_keys: None
) -> None:
    Slot.objects.filter(pk="slot-006").update(is_active=True, **GEMINI)
    token = api_token_create(user=staff_with_role("watcher", EVENT_OPERATOR), name="t")[1]

    answer = Client().get("/healthz?slots=1", headers={"Authorization": f"Bearer {token}"})

    slots = answer.json()["slots"]
    assert answer.status_code == 200  # a slot not ready does not make the server unhealthy
    assert slots["slot-001"] == {"ready": True, "missing": []}
    assert slots["slot-006"]["ready"] is False
    assert "slot-015" not in slots  # switched off


def test_healthz_keeps_slots_from_anonymous_callers(configured: None) -> None:
    assert Client().get("/healthz").status_code == 200
    refused = Client().get("/healthz?slots=1")
    assert refused.status_code == 401
    assert "slot-001" not in refused.content.decode()


@pytest.mark.django_db(transaction=True)
def test_start_up_names_active_slots_that_are_not_ready(
    configured: None, media_root: Path, tmp_path: Path
) -> None:
    Slot.objects.filter(pk="slot-006").update(is_active=True, **GEMINI)
    server = ServerProcess.start(
        media_root=media_root, data_dir=tmp_path, extra_env={"GEMINI_API_KEY": ""}
    )
    try:
        output = server.log_path.read_text()
    finally:
        server.stop()

    assert "Active slots: slot-001, slot-002, slot-003, slot-004" in output
    assert "Active slot slot-006 is NOT READY: No Google Gemini API key" in output
