"""The staff API's endpoints, each as a call a test can send with any client."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.images import image_bytes


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


def png_upload() -> SimpleUploadedFile:
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
        form={"role": "style", "file": png_upload},
        success=201,
    ),
    Call("delete", "/api/slots/slot-001/template-images/{image_id}", success=204),
    Call("patch", "/api/settings", json={"result_ttl_hours": 24}),
    Call("put", "/api/settings/ingest-password", json={"password": "new-secret"}, success=204),
    Call("put", "/api/settings/provider-keys/gemini", json={"key": "AIza-test"}, success=204),
    Call("delete", "/api/settings/provider-keys/gemini", success=204),
]
ENDPOINTS = READS + WRITES


def call_id(call: Call) -> str:
    return f"{call.method.upper()} {call.path}"
