"""The admin site staff use to set up and watch the booth."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class PhotoChangerAdminSite(admin.AdminSite):
    site_header = "PhotoChanger"
    site_title = "PhotoChanger"
    index_title = _("Event setup")
    # The server has no home page of its own to link to ("/" is the API's 404).
    site_url = None

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """The admin's sections as Django lists them, with the login protection of django-axes
        moved last and named in the staff member's language: it is rarely needed on the day,
        and its own names are English-only in some languages."""
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            if app["app_label"] == "axes":
                app["name"] = _("Staff login protection")
                for model in app["models"]:
                    model["name"] = AXES_MODEL_NAMES.get(model["object_name"], model["name"])
        return sorted(app_list, key=lambda app: app["app_label"] == "axes")


AXES_MODEL_NAMES = {
    "AccessAttempt": _("Failed staff logins"),
    "AccessFailureLog": _("Failed staff logins, history"),
    "AccessLog": _("Staff logins, history"),
}
