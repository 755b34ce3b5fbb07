"""The admin app with our own site, so every page carries the product's name."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class PhotoChangerAdminConfig(AdminConfig):
    default_site = "photochanger.admin.PhotoChangerAdminSite"
