"""The admin site staff use to set up and watch the booth."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class PhotoChangerAdminSite(admin.AdminSite):
    site_header = "PhotoChanger"
    site_title = "PhotoChanger"
    index_title = _("Event setup")
    # The server has no home page of its own to link to ("/" is the API's 404).
    site_url = None
