"""Job history in the admin: read-only, as jobs are written by the pipeline alone."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ingest.models import Job, JobStatus
from ingest.selectors import jobs_with_id

NOTHING = "—"


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "id",
        "slot",
        "source",
        "status",
        "failure_reason",
        "http_status",
        "duration",
    )
    list_filter = ("slot", "status", "failure_reason", "source")
    date_hierarchy = "started_at"
    # The search box needs a field to show; get_search_results matches whole ids only.
    search_fields = ("id",)
    search_help_text = _("A job id: the whole UUID, as in the X-Job-Id header.")
    ordering = ("-started_at",)
    list_select_related = ("slot",)
    list_per_page = 50
    # Counting the whole table again on every filtered page costs more than it tells.
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("id", "slot", "source", "provider", "operation", "status")}),
        (
            _("Answer given"),
            {"fields": ("http_status", "failure_reason", "failure_details", "fallback_original")},
        ),
        (
            _("Timings"),
            {"fields": ("started_at", "deadline_at", "finished_at", "duration", "provider_time")},
        ),
        (_("Result"), {"fields": ("result", "result_expires_at")}),
        (
            _("Upload"),
            {
                "fields": (
                    "upload_filename",
                    "upload_size",
                    "upload_content_type",
                    "upload_sha256",
                    "upload_hash",
                    "upload_hash_matches",
                )
            },
        ),
        (_("Sent by the booth"), {"fields": ("booth_metadata",)}),
    )
    readonly_fields = ("duration", "provider_time", "result", "booth_metadata")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False  # results and stats rely on the rows; cleanup_media handles expiry

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        if not search_term.strip():
            return queryset, False
        return jobs_with_id(queryset, search_term), False

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, job: Job) -> str:
        return NOTHING if job.duration_ms is None else _("%(ms)s ms") % {"ms": job.duration_ms}

    @admin.display(description=_("provider time"))
    def provider_time(self, job: Job) -> str:
        return NOTHING if job.provider_ms is None else _("%(ms)s ms") % {"ms": job.provider_ms}

    @admin.display(description=_("result"))
    def result(self, job: Job) -> SafeString | str:
        if job.status != JobStatus.DONE:
            return NOTHING
        result_url = f"/public/results/{job.pk}"
        return format_html(
            '<a href="{result}" target="_blank"><img src="{thumbnail}" alt="" height="160"></a>'
            '<br><a href="{result}" target="_blank">{result}</a>'
            ' · <a href="{thumbnail}" target="_blank">{thumbnail_label}</a>',
            result=result_url,
            thumbnail=reverse("api:job_thumbnail", kwargs={"job_id": str(job.pk)}),
            thumbnail_label=_("thumbnail"),
        )

    @admin.display(description=_("metadata"))
    def booth_metadata(self, job: Job) -> SafeString | str:
        if not job.metadata:
            return NOTHING
        return format_html(
            '<pre style="margin: 0; white-space: pre-wrap">{}</pre>',
            json.dumps(job.metadata, indent=2, ensure_ascii=False, sort_keys=True),
        )
