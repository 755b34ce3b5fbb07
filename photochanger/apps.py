"""The project as an app: its commands (serve, cleanup_media), and the admin with our own site."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PhotoChangerConfig(AppConfig):
    name = "photochanger"
    verbose_name = "PhotoChanger"
    default = True


class PhotoChangerAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "photochanger.sites.PhotoChangerAdminSite"
