"""Who may use the staff API: a staff token, or a staff session that passes CSRF."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

from photochanger.tokens import api_token_create
from slots.models import Slot
from tests.staff_api.conftest import csrf_headers
from tests.staff_api.endpoints import ENDPOINTS, READS, WRITES, Call, call_id

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_no_credentials_is_401(call: Call, ids: dict[str, object]) -> None:
    response = call.send(Client(), ids)

    assert response.status_code == 401
    assert response.json()["failure_reason"] == "unauthorized"


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_unknown_token_is_401(call: Call, ids: dict[str, object]) -> None:
    response = call.send(Client(headers={"Authorization": "Bearer pc_not-a-token"}), ids)
    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_token_of_a_non_staff_user_is_401(call: Call, ids: dict[str, object]) -> None:
    guest = get_user_model().objects.create_user("guest", is_staff=False)
    token = api_token_create(user=guest, name="nope")[1]

    response = call.send(Client(headers={"Authorization": f"Bearer {token}"}), ids)

    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_token_of_a_deactivated_staff_user_is_401(
    call: Call, ids: dict[str, object], staff_user: object, staff_token: str
) -> None:
    get_user_model().objects.filter(pk=staff_user.pk).update(is_active=False)

    response = call.send(Client(headers={"Authorization": f"Bearer {staff_token}"}), ids)

    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_staff_token_is_accepted(call: Call, ids: dict[str, object], api: Client) -> None:
    assert call.send(api, ids).status_code == call.success


@pytest.mark.parametrize("call", ENDPOINTS, ids=call_id)
def test_session_of_a_non_staff_user_is_401(call: Call, ids: dict[str, object]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("guest"))

    response = call.send(client, ids, **csrf_headers(client))

    assert response.status_code == 401


@pytest.mark.parametrize("call", READS, ids=call_id)
def test_staff_session_reads_without_csrf(
    call: Call, ids: dict[str, object], staff_session: Client
) -> None:
    assert call.send(staff_session, ids).status_code == call.success


@pytest.mark.parametrize("call", WRITES, ids=call_id)
def test_staff_session_write_without_csrf_header_is_403(
    call: Call, ids: dict[str, object], staff_session: Client
) -> None:
    staff_session.cookies["csrftoken"] = "a" * 32  # a cookie, but no matching header

    response = call.send(staff_session, ids)

    assert response.status_code == 403
    assert response.json()["failure_reason"] == "forbidden"


@pytest.mark.parametrize("call", WRITES, ids=call_id)
def test_staff_session_write_with_csrf_header_is_accepted(
    call: Call, ids: dict[str, object], staff_session: Client
) -> None:
    response = call.send(staff_session, ids, **csrf_headers(staff_session))
    assert response.status_code == call.success


def test_refused_write_changes_nothing(staff_session: Client) -> None:
    staff_session.patch(
        "/api/slots/slot-001", {"display_name": "Hijacked"}, content_type="application/json"
    )
    assert Slot.objects.get(pk="slot-001").display_name != "Hijacked"


def test_api_docs_send_anonymous_visitors_to_the_admin_login() -> None:
    response = Client().get("/api/docs")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_api_schema_is_hidden_from_anonymous_visitors() -> None:
    assert Client().get("/api/openapi.json").status_code == 302


def test_api_docs_are_shown_to_staff(staff_session: Client) -> None:
    assert staff_session.get("/api/docs").status_code == 200


def test_api_docs_load_nothing_from_the_internet(staff_session: Client) -> None:
    # An event without internet still has its API docs: the Swagger UI is served by us.
    page = staff_session.get("/api/docs").content.decode()

    scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert scripts
    assert all(url.startswith("/static/") for url in scripts), scripts
    # The server's static files handler serves what the finders find (photochanger.asgi).
    assert all(finders.find(url.removeprefix("/static/")) for url in scripts)


def test_api_schema_describes_the_staff_endpoints(staff_session: Client) -> None:
    schema = staff_session.get("/api/openapi.json").json()

    paths = schema["paths"]
    assert set(paths["/api/slots/{slot_id}"]) == {"get", "patch"}
    assert set(paths["/api/settings/provider-keys/{provider}"]) == {"put", "delete"}
    assert "/api/jobs/{job_id}" in paths
    assert "SlotOut" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["SlotPatchIn"]["additionalProperties"] is False


def test_api_schema_names_each_providers_settings_for_a_slot(staff_session: Client) -> None:
    schema = staff_session.get("/api/openapi.json").json()

    settings = schema["components"]["schemas"]["SlotPatchIn"]["properties"]["settings"]
    by_title = {option["title"]: option for option in settings["anyOf"]}
    assert by_title["GeminiSettings"]["required"] == ["prompt"]
    assert by_title["LocalSettings"]["properties"]["bits"]["maximum"] == 8
    assert set(by_title) == {
        "GeminiSettings",
        "OpenAISettings",
        "TurbotextSettings",
        "LocalSettings",
    }


def test_api_docs_are_not_shown_to_non_staff() -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("guest"))

    assert client.get("/api/docs").status_code == 302
