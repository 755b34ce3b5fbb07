"""Roles: every staff endpoint asks the same model permission the admin would, for a token or a
session alike. Each role is tried on each endpoint."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from photochanger.roles import EVENT_ADMIN, EVENT_OPERATOR, OPERATOR_PERMISSIONS
from photochanger.tokens import api_token_create
from slots.models import GlobalSettings, Slot
from tests.booth import Booth
from tests.roles import role_group, staff_with_role
from tests.staff_api.conftest import csrf_headers
from tests.staff_api.endpoints import ENDPOINTS, Call, call_id

pytestmark = pytest.mark.django_db


# What an event operator does on the day, beyond reading.
OPERATOR_CALLS = [
    Call("patch", "/api/slots/slot-001", json={"is_active": False}),
    Call("patch", "/api/slots/slot-002", json={"settings": {"prompt": "a watercolour"}}),
    Call("get", "/api/stats/overview"),
    Call("get", "/api/stats/slots"),
    Call("get", "/api/stats/refused-addresses"),
    Call("delete", "/api/stats/refused-addresses/198.51.100.7", success=204),
]
EVERY_CALL = ENDPOINTS + OPERATOR_CALLS

OPERATOR_MAY = {
    "GET /api/slots",
    "GET /api/slots/slot-001",
    "GET /api/slots/slot-001/template-images/{image_id}/file",
    "GET /api/jobs/{job_id}",
    "GET /api/jobs/{job_id}/thumbnail",
    "GET /api/stats/overview",
    "GET /api/stats/slots",
    "GET /api/stats/refused-addresses",
}


def _operator_may(call: Call) -> bool:
    if call.method == "patch" and call.path.startswith("/api/slots/"):
        return set(call.json) <= {"is_active", "settings"}
    return call_id(call) in OPERATOR_MAY


def _token_client(role: str | None) -> Client:
    user = staff_with_role(f"staff-{role or 'none'}", role)
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user, name='t')[1]}"})


@pytest.mark.parametrize("call", EVERY_CALL, ids=call_id)
def test_event_admin_may_do_everything(call: Call, ids: dict[str, object]) -> None:
    assert call.send(_token_client(EVENT_ADMIN), ids).status_code == call.success


@pytest.mark.parametrize("call", EVERY_CALL, ids=call_id)
def test_event_operator_may_only_run_the_event(call: Call, ids: dict[str, object]) -> None:
    response = call.send(_token_client(EVENT_OPERATOR), ids)

    if _operator_may(call):
        assert response.status_code == call.success, response.content
    else:
        assert response.status_code == 403
        assert response.json()["failure_reason"] == "forbidden"
        assert "permission" in response.json()["details"]


@pytest.mark.parametrize("call", EVERY_CALL, ids=call_id)
def test_staff_without_a_role_may_do_nothing(call: Call, ids: dict[str, object]) -> None:
    response = call.send(_token_client(None), ids)

    assert response.status_code == 403
    assert response.json()["failure_reason"] == "forbidden"


@pytest.mark.parametrize("call", EVERY_CALL, ids=call_id)
def test_a_session_is_held_to_the_same_permissions(call: Call, ids: dict[str, object]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_with_role("no-role", None))

    response = call.send(client, ids, **csrf_headers(client))

    assert response.status_code == 403


def test_a_refused_password_change_changes_nothing(ids: dict[str, object]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_with_role("no-role", None))

    client.put(
        "/api/settings/ingest-password",
        {"password": "taken-over"},
        content_type="application/json",
        headers=csrf_headers(client),
    )

    assert GlobalSettings.objects.get().ingest_password_set_by != "no-role"


def test_an_operator_may_not_change_a_slot_beyond_its_prompt(ids: dict[str, object]) -> None:
    client = _token_client(EVENT_OPERATOR)
    before = Slot.objects.get(pk="slot-002")

    response = client.patch(
        "/api/slots/slot-002",
        {"settings": {"prompt": "a watercolour", "bits": 2}},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert Slot.objects.get(pk="slot-002").settings == before.settings


def test_an_operators_prompt_change_is_saved(ids: dict[str, object]) -> None:
    client = _token_client(EVENT_OPERATOR)

    response = client.patch(
        "/api/slots/slot-002",
        {"is_active": True, "settings": {"prompt": "a watercolour"}},
        content_type="application/json",
    )

    assert response.status_code == 200
    slot = Slot.objects.get(pk="slot-002")
    assert (slot.is_active, slot.settings["prompt"]) == (True, "a watercolour")


def test_the_data_migration_made_both_groups() -> None:
    operator = role_group(EVENT_OPERATOR)
    admin = role_group(EVENT_ADMIN)

    def names(group: Group) -> set[str]:
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    assert names(operator) == set(OPERATOR_PERMISSIONS)
    assert {"slots.change_globalsettings", "photochanger.add_apitoken"} <= names(admin)
    assert set(OPERATOR_PERMISSIONS) <= names(admin)


@pytest.mark.django_db(transaction=True)  # a test run answers from other threads
@pytest.mark.parametrize(
    ("role", "status"), [(EVENT_ADMIN, 200), (EVENT_OPERATOR, 200), (None, 403)]
)
def test_test_runs_are_for_operators_and_admins(
    role: str | None, status: int, booth: Booth, photo: bytes
) -> None:
    token = api_token_create(user=staff_with_role("tester", role), name="t")[1]

    response = booth.http.post(
        "/api/slots/slot-001/test-run",
        files={"fileToUpload": ("t.jpg", photo, "image/jpeg")},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == status
