"""The staff API for slots: /api/slots/…"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from ninja import Router

from ingest.pipeline import test_run_photo
from photochanger.auth import staff_auth
from photochanger.errors import InvalidRequest
from slots.services import SlotOverrides

router = Router(tags=["slots"], auth=staff_auth)

_TEST_RUN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fileToUpload"],
                    "properties": {
                        "fileToUpload": {"type": "string", "format": "binary"},
                        "overrides": {
                            "type": "string",
                            "description": 'Unsaved changes as JSON, e.g. {"settings": '
                            '{"prompt": "…"}}; keys: provider, operation, settings.',
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/slots/{slot_id}/test-run",
    openapi_extra=_TEST_RUN_FORM,
    summary="Run a test photo through a slot",
    description="The booth's pipeline without the password, recorded with source test_run. "
    "Answers what a booth would get: the image with X-Job-Id and X-Result-Url, or the error.",
)
async def slot_test_run(request: HttpRequest, slot_id: str) -> HttpResponse:
    return await test_run_photo(
        request=request, slot_id=slot_id, overrides=_overrides(request.POST.get("overrides"))
    )


def _overrides(raw: str | None) -> SlotOverrides:
    if not raw:
        return SlotOverrides()
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidRequest("overrides must be JSON") from None
    if not isinstance(data, dict) or set(data) - {"provider", "operation", "settings"}:
        raise InvalidRequest("overrides may set provider, operation and settings")
    return SlotOverrides(
        provider=data.get("provider"),
        operation=data.get("operation"),
        settings=data.get("settings"),
    )
