"""The domain error base class: every refusal the API documents is one of these.

Services raise a narrow subclass; the single handler in ``photochanger.api`` turns it into the
documented JSON body ``{"status", "failure_reason", "details", "retry_after"}``.

Neither ``failure_reason`` nor ``details`` is translated: the codes are the API's contract, and
the booth's operators read the details in its logs, in English. The one exception is
SlotSettingsInvalid from the staff API: what is wrong with a slot's settings is worded in the
staff member's language (their language cookie or browser), as staff read it on the slot page.
"""

from __future__ import annotations


class PhotoChangerError(Exception):
    http_status: int = 500
    failure_reason: str = "internal_error"
    status: str = "error"

    def __init__(self, details: str = "", *, retry_after: int | None = None) -> None:
        super().__init__(details or self.failure_reason)
        self.details = details
        self.retry_after = retry_after
        # Set once the request has a job row, so the answer can name it (X-Job-Id).
        self.job_id: object | None = None

    def as_body(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "failure_reason": self.failure_reason}
        if self.details:
            body["details"] = self.details
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class InvalidRequest(PhotoChangerError):
    http_status = 400
    failure_reason = "invalid_request"


class InvalidPassword(PhotoChangerError):
    http_status = 401
    failure_reason = "invalid_password"


class SlotNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "slot_not_found"


class SlotDisabled(PhotoChangerError):
    http_status = 404
    failure_reason = "slot_disabled"


class MethodNotAllowed(PhotoChangerError):
    http_status = 405
    failure_reason = "method_not_allowed"


class PayloadTooLarge(PhotoChangerError):
    http_status = 413
    failure_reason = "payload_too_large"


class UnsupportedMediaType(PhotoChangerError):
    http_status = 415
    failure_reason = "unsupported_media_type"


class Forbidden(PhotoChangerError):
    """A staff member whose role does not allow this (the same permission the admin checks)."""

    http_status = 403
    failure_reason = "forbidden"


class RateLimited(PhotoChangerError):
    http_status = 429
    failure_reason = "rate_limited"


class ClientDisconnected(PhotoChangerError):
    """Recorded on a job whose booth hung up before the answer; never sent to anyone."""

    http_status = 499
    failure_reason = "client_disconnected"


class InternalError(PhotoChangerError):
    http_status = 500
    failure_reason = "internal_error"


class ProviderFailed(PhotoChangerError):
    http_status = 502
    failure_reason = "provider_error"


class ProviderTimeout(PhotoChangerError):
    http_status = 504
    failure_reason = "provider_timeout"
    status = "timeout"


class ResultNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "result_not_found"


class ResultExpired(PhotoChangerError):
    http_status = 410
    failure_reason = "result_expired"


class MediaNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "media_not_found"


class MediaExpired(PhotoChangerError):
    http_status = 410
    failure_reason = "media_expired"


class SlotSettingsInvalid(PhotoChangerError):
    """A slot's provider, operation or settings do not fit together (422, by field)."""

    http_status = 422
    failure_reason = "invalid_settings"

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems

    def as_body(self) -> dict[str, object]:
        return {**super().as_body(), "errors": self.problems}


class JobNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "job_not_found"


class NoTestRun(PhotoChangerError):
    """The slot's print preview needs a test run's answer, and there is none lately."""

    http_status = 404
    failure_reason = "no_test_run"


class ApiKeyNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "api_key_not_found"


class TemplateImageNotFound(PhotoChangerError):
    http_status = 404
    failure_reason = "template_image_not_found"
