"""POST /api/ingest/{slot_id}: the booth sends a photo and gets the processed one back."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from ingest.pipeline import ingest_photo
from photochanger.errors import MethodNotAllowed

router = Router(tags=["ingest"])

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fileToUpload"],
                    "properties": {
                        "password": {
                            "type": "string",
                            "description": "The ingest password (or ?password= in the URL).",
                        },
                        "fileToUpload": {
                            "type": "string",
                            "format": "binary",
                            "description": "The photo: JPEG, PNG or WebP (alias: file).",
                        },
                        "hash": {
                            "type": "string",
                            "description": "Optional hex MD5, SHA-1 or SHA-256 of the photo.",
                        },
                    },
                    "additionalProperties": {
                        "type": "string",
                        "description": "Booth metadata (time, profile, name, …), kept on the job.",
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "The processed image (headers X-Job-Id, X-Result-Url).",
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
        }
    },
}


@router.post("/ingest/{slot_id}", openapi_extra=_FORM_SCHEMA, summary="Process a booth photo")
async def ingest(request: HttpRequest, slot_id: str) -> HttpResponse:
    return await ingest_photo(request=request, slot_id=slot_id)


@router.api_operation(
    ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"], "/ingest/{slot_id}", include_in_schema=False
)
def ingest_other_methods(request: HttpRequest, slot_id: str) -> HttpResponse:
    raise MethodNotAllowed("send the photo with POST")
