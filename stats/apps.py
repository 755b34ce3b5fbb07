from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = _("Stats")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        # The admin index links to the stats page (templates/stats/admin_index.html extends
        # whatever admin/index.html is in use). An index_template set elsewhere wins.
        if admin.site.index_template is None:
            admin.site.index_template = "stats/admin_index.html"
