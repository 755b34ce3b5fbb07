"""Whether the event gallery is shared with the public, and until when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class GallerySharing(models.Model):
    """The one row (pk 1) saying until when the public gallery answers; absent or in the past
    means not shared."""

    shared_until = models.DateTimeField(_("shared until"), null=True, blank=True)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("gallery sharing")
        verbose_name_plural = _("gallery sharing")
        # Statistics have no model of their own; the permission to see them lives here.
        permissions = [("view_statistics", _("Can view statistics and live jobs"))]

    def __str__(self) -> str:
        if self.shared_until is None:
            return str(_("not shared"))
        return _("gallery shared until %(until)s") % {"until": self.shared_until}

    @property
    def is_shared(self) -> bool:
        return self.shared_until is not None and self.shared_until > timezone.now()
