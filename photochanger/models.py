"""The one model of the project's base: staff members' API tokens (photochanger.auth reads them)."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    """A staff member's token for the JSON API (``Authorization: Bearer <token>``).

    Only a SHA-256 of the token is kept: it is shown once, when created.
    """

    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so staff can tell their tokens apart.
    prefix = models.CharField(_("prefix"), max_length=8, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        # Kept under its first name: the table was made when tokens lived in the slots app.
        db_table = "slots_apitoken"
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class BoothRequest(models.Model):
    """A request to the booth's endpoint, answered or refused (photochanger.request_log): what
    the crew looks at when a booth "does nothing". Never the password or the photo.

    A refusal without a job (wrong password, unknown slot, too large, rate limited…) is kept
    once per address, slot, status and reason and minute, with ``count``: a flood of refused
    requests adds a row a minute, not a row a request.
    """

    at = models.DateTimeField(_("time"))  # a refusal row: the start of its minute
    last_at = models.DateTimeField(_("last"))
    count = models.PositiveIntegerField(_("requests"), default=1)
    client = models.CharField(_("client address"), max_length=64)
    user_agent = models.CharField(_("user agent"), max_length=200, blank=True)
    slot_sent = models.CharField(_("slot as sent"), max_length=40, blank=True)
    status = models.PositiveSmallIntegerField(_("HTTP status"))
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    bytes = models.BigIntegerField(_("bytes sent"), null=True, blank=True)
    # No foreign key: the row is written after the answer, in batches, and outlives no job
    # it names by much (both go after the result TTL).
    job_id = models.UUIDField(_("job"), null=True, blank=True)

    class Meta:
        verbose_name = _("booth request")
        verbose_name_plural = _("booth requests")
        indexes = [models.Index(fields=["last_at"], name="booth_request_last_idx")]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.client} {self.slot_sent} {self.status}"
