"""The ``floor`` server's one route (see bench/floor_settings.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from ninja import NinjaAPI

api = NinjaAPI(urls_namespace="floor", docs_url=None, openapi_url=None)


@api.post("/ingest/{path:slot_id}")
async def echo(request: HttpRequest, slot_id: str) -> HttpResponse:
    data = request.body
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Length"] = str(len(data))
    return response


urlpatterns = [path("api/", api.urls)]
