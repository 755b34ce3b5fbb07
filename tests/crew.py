"""A crew member at the staff API, in-process beside tests/booth.py's booths: an event admin
with an API token, who sets slots up the way the admin's pages do."""

from __future__ import annotations

from typing import Any

from photochanger.tokens import api_token_create
from tests.booth import InProcessHTTP, Reply
from tests.roles import EVENT_ADMIN, staff_with_role


class Crew:
    def __init__(self, *, username: str = "crew") -> None:
        token = api_token_create(user=staff_with_role(username, EVENT_ADMIN), name="tests")[1]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = InProcessHTTP(address="10.254.0.1")

    def get(self, url: str) -> Reply:
        return self.http.get(url, headers=self.headers)

    def slot_change(self, slot_id: str, **changes: Any) -> Reply:
        reply = self.http.request(
            "PATCH", f"/api/slots/{slot_id}", json=changes, headers=self.headers
        )
        assert reply.status_code == 200, reply.text
        return reply

    def template_image_add(self, slot_id: str, image: bytes, *, role: str) -> Reply:
        reply = self.http.post(
            f"/api/slots/{slot_id}/template-images",
            data={"role": role},
            files={"file": ("template.png", image, "image/png")},
            headers=self.headers,
        )
        assert reply.status_code == 201, reply.text
        return reply
