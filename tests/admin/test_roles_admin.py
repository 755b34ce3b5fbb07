"""The admin holds each role to the same permissions as the staff API."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from slots.models import Slot
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(configured: None) -> Client:
    client = Client()
    client.force_login(staff_with_role("operator-on-duty", EVENT_OPERATOR))
    return client


def slot_form(**changes: str) -> dict[str, str]:
    return {
        "is_active": "on",
        "settings": '{"prompt": "a watercolour"}',
        "template_images-TOTAL_FORMS": "0",
        "template_images-INITIAL_FORMS": "0",
        **changes,
    }


def test_an_operator_sees_the_provider_but_cannot_change_it(operator: Client) -> None:
    page = operator.get("/admin/slots/slot/slot-002/change/").content.decode()

    assert 'name="is_active"' in page
    assert 'name="settings"' in page
    assert 'name="provider"' not in page
    assert 'name="display_name"' not in page


def test_an_operator_switches_a_slot_and_edits_its_prompt(operator: Client) -> None:
    operator.post("/admin/slots/slot/slot-006/change/", slot_form())

    slot = Slot.objects.get(pk="slot-006")
    assert slot.is_active
    assert slot.settings == {"prompt": "a watercolour"}


def test_an_operator_cannot_change_other_settings(operator: Client) -> None:
    page = operator.post(
        "/admin/slots/slot/slot-004/change/", slot_form(settings='{"bits": 1}')
    ).content.decode()

    assert "may change only the prompt" in page
    assert Slot.objects.get(pk="slot-004").settings == {"bits": 3}


def test_an_operator_cannot_open_the_settings_or_tokens(operator: Client) -> None:
    assert operator.get("/admin/slots/globalsettings/1/change/").status_code == 403
    assert operator.get("/admin/photochanger/apitoken/").status_code == 403


def test_staff_without_a_role_cannot_open_slots_or_stats(configured: None) -> None:
    client = Client()
    client.force_login(staff_with_role("nobody", None))

    assert client.get("/admin/slots/slot/").status_code == 403
    assert client.get("/admin/stats/").status_code == 403
    assert "stats-module" not in client.get("/admin/").content.decode()


def test_login_protection_comes_last_in_the_index(configured: None) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss"))

    page = client.get("/admin/").content.decode()

    assert page.index("Staff login protection") > page.index("/admin/slots/")
