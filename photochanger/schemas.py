"""Schemas shared by every router, for the API docs."""

from __future__ import annotations

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    """The error body, as the handler in ``photochanger.api`` writes it (for the API docs)."""

    status: str = Field(description='"error", or "timeout" for provider_timeout.')
    failure_reason: str
    details: str | None = None
    retry_after: int | None = None
    errors: dict[str, str] | None = Field(
        default=None, description="422 only: what is wrong with each field, by name."
    )
