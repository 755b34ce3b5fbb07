"""Files kept in storage for a while: results, thumbnails and provider media."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class MediaKind(models.TextChoices):
    RESULT = "result", _("result")
    THUMBNAIL = "thumbnail", _("thumbnail")
    PROVIDER_MEDIA = "provider_media", _("provider media")


class StoredMedia(models.Model):
    # Provider media are served under this id, so it must be unguessable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=MediaKind.choices)
    job = models.ForeignKey(
        "ingest.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="media"
    )
    storage_name = models.CharField(max_length=255, unique=True)
    content_type = models.CharField(max_length=32)
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            # cleanup_media: everything whose time is up.
            models.Index(fields=["expires_at"], name="media_expires_idx"),
            # A job's result or thumbnail.
            models.Index(fields=["job", "kind"], name="media_job_kind_idx"),
        ]
        verbose_name = _("stored media")
        verbose_name_plural = _("stored media")

    def __str__(self) -> str:
        return f"{self.kind} {self.storage_name}"

    @property
    def extension(self) -> str:
        return self.storage_name.rsplit(".", 1)[-1]
