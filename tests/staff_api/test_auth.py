"""Who may use the staff API: a staff token, or a staff session that passes CSRF."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from ingest.models import Job
from photochanger.tokens import api_token_create
from slots.models import Slot
from tests.images import image_bytes
from tests.staff_api.conftest import csrf_headers

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # formatted with the ids of the `ids` fixture
    json: dict | None = None
    form: dict = field(default_factory=dict)
    success: int = 200

    def send(self, client: Client, ids: dict[str, object], **headers: str):
        path = self.path.format(**ids)
        send = getattr(client, self.method)
        if self.json is not None:
            return send(path, self.json, content_type="application/json", headers=headers)
        if self.form:
            form = {
                name: value() if callable(value) else value for name, value in self.form.items()
            }
            return send(path, form, headers=headers)
        return send(path, headers=headers)


def _png() -> SimpleUploadedFile:
    return SimpleUploadedFile("style.png", image_bytes("PNG"), content_type="image/png")


READS = [
    Call("get", "/api/slots"),
    Call("get", "/api/slots/slot-001"),
    Call("get", "/api/slots/slot-001/template-images/{image_id}/file"),
    Call("get", "/api/settings"),
    Call("get", "/api/jobs/{job_id}"),
    Call("get", "/api/jobs/{job_id}/thumbnail"),
]
WRITES = [
    Call("patch", "/api/slots/slot-001", json={"display_name": "Renamed"}),
    Call(
        "post",
        "/api/slots/slot-001/template-images",
        form={"role": "style", "file": _png},
        success=201,
    ),
    Call("delete", "/api/slots/slot-001/template-images/{image_id}", success=204),
    Call("patch", "/api/settings", json={"result_ttl_hours": 24}),
    Call("put", "/api/settings/ingest-password", json={"password": "new-secret"}, success=204),
    Call("put", "/api/settings/provider-keys/gemini", json={"key": "AIza-test"}, success=204),
    Call("delete", "/api/settings/provider-keys/gemini", success=204),
]
ENDPOINTS = READS + WRITES


def _call_id(call: Call) -> str:
    return f"{call.method.upper()} {call.path}"


@pytest.fixture
def ids(done_job: Job, api: Client) -> dict[str, object]:
    response = api.post("/api/slots/slot-001/template-images", {"role": "overlay", "file": _png()})
    return {"image_id": response.json()["id"], "job_id": done_job.pk}


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_no_credentials_is_401(call: Call, ids: dict[str, object]) -> None:
    response = call.send(Client(), ids)

    assert response.status_code == 401
    assert response.json()["failure_reason"] == "unauthorized"


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_unknown_token_is_401(call: Call, ids: dict[str, object]) -> None:
    response = call.send(Client(headers={"Authorization": "Bearer pc_not-a-token"}), ids)
    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_token_of_a_non_staff_user_is_401(call: Call, ids: dict[str, object]) -> None:
    guest = get_user_model().objects.create_user("guest", is_staff=False)
    token = api_token_create(user=guest, name="nope")[1]

    response = call.send(Client(headers={"Authorization": f"Bearer {token}"}), ids)

    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_token_of_a_deactivated_staff_user_is_401(
    call: Call, ids: dict[str, object], staff_user: object, staff_token: str
) -> None:
    get_user_model().objects.filter(pk=staff_user.pk).update(is_active=False)

    response = call.send(Client(headers={"Authorization": f"Bearer {staff_token}"}), ids)

    assert response.status_code == 401


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_staff_token_is_accepted(call: Call, ids: dict[str, object], api: Client) -> None:
    assert call.send(api, ids).status_code == call.success


@pytest.mark.parametrize("call", ENDPOINTS, ids=_call_id)
def test_session_of_a_non_staff_user_is_401(call: Call, ids: dict[str, object]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("guest"))

    response = call.send(client, ids, **csrf_headers(client))

    assert response.status_code == 401


@pytest.mark.parametrize("call", READS, ids=_call_id)
def test_staff_session_reads_without_csrf(
    call: Call, ids: dict[str, object], staff_session: Client
) -> None:
    assert call.send(staff_session, ids).status_code == call.success


@pytest.mark.parametrize("call", WRITES, ids=_call_id)
def test_staff_session_write_without_csrf_header_is_403(
    call: Call, ids: dict[str, object], staff_session: Client
) -> None:
    staff_session.cookies["csrftoken"] = "a" * 32  # a cookie, but no matching header

    response = call.send(staff_session, ids)

    assert response.status_code == 403
    assert response.json()["failure_reason"] == "forbidden"


@pytest.mark.parametrize("call", WRITES, ids=_call_id)
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
