"""GET /healthz: is the database reachable, and can the storage be written?"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from ninja import Router

from media.services import storage_probe
from photochanger.executors import run_database_work
from photochanger.responses import json_response

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


@router.get("/healthz", auth=None, summary="Health of the database and the storage")
async def healthz(request: HttpRequest) -> JsonResponse:
    checks = await run_database_work(_checks)
    healthy = all(value == "ok" for value in checks.values())
    return json_response(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
