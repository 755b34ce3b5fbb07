"""GET /healthz: is the database reachable, and can the storage be written? With ``?slots=1``
(staff who may view slots): is each active slot ready to process a photo?"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from ninja import Router
from ninja.errors import AuthenticationError

from media.services import storage_probe
from photochanger.auth import staff_with
from photochanger.executors import run_database_work
from photochanger.responses import json_response
from slots.readiness import active_slots_missing

logger = logging.getLogger(__name__)
router = Router(tags=["operations"])


def _checks() -> dict[str, str]:
    results = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        results["database"] = "ok"
    except Exception:
        logger.exception("health check: database")
        results["database"] = "unreachable"
    try:
        storage_probe()
        results["storage"] = "ok"
    except Exception:
        logger.exception("health check: storage")
        results["storage"] = "unwritable"
    return results


def _slots_readiness(request: HttpRequest) -> dict[str, dict[str, object]]:
    # The same credentials and permission as GET /api/slots.
    if not any(method(request) for method in staff_with("slots.view_slot")):
        raise AuthenticationError()
    return {
        slot_id: {"ready": not missing, "missing": missing}
        for slot_id, missing in active_slots_missing().items()
    }


@router.get(
    "/healthz",
    auth=None,
    summary="Health of the database and the storage",
    description="With ?slots=1 (a staff token or session that may view slots), also each active "
    "slot's readiness: whether it can process a photo and, if not, what is missing. A slot "
    "that is not ready does not make the server unhealthy.",
)
async def healthz(request: HttpRequest, slots: bool = False) -> JsonResponse:
    checks = await run_database_work(_checks)
    healthy = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ok" if healthy else "error", **checks}
    if slots:
        body["slots"] = await run_database_work(_slots_readiness, request)
    return json_response(body, status=200 if healthy else 503)
