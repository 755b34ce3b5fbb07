"""Jobs in the admin: the read-only history (jobs are written by the ingest service alone), and
each slot's latest results on the slots' pages."""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ingest.models import Job, JobStatus
from ingest.selectors import jobs_with_id, latest_result_job_ids, slot_latest_results
from slots.admin import SlotAdmin, local_time_text
from slots.models import Slot

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
        (_("Prompt sent"), {"fields": ("prompt_sent",)}),
        (_("Providers tried"), {"fields": ("served_step", "provider_attempts")}),
        (
            _("Answer given"),
            {
                "fields": (
                    "http_status",
                    "failure_reason",
                    "failure_details",
                    "fallback_original",
                    "repeat_of",
                )
            },
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
    readonly_fields = ("duration", "provider_time", "result", "booth_metadata", "provider_attempts")

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
        result_url = _result_url(job.pk)
        return format_html(
            '<a href="{result}" target="_blank"><img src="{thumbnail}" alt="" height="160"></a>'
            '<br><a href="{result}" target="_blank">{result}</a>'
            ' · <a href="{thumbnail}" target="_blank">{thumbnail_label}</a>',
            result=result_url,
            thumbnail=_thumbnail_url(job.pk),
            thumbnail_label=_("thumbnail"),
        )

    @admin.display(description=_("attempts"))
    def provider_attempts(self, job: Job) -> SafeString | str:
        """The failover chain's steps as a table: slot, provider, outcome, time, why."""
        if not job.attempts:
            return NOTHING
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} · {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    attempt.get("step"),
                    attempt.get("slot"),
                    attempt.get("provider"),
                    attempt.get("operation"),
                    attempt.get("outcome"),
                    _attempt_seconds(attempt),
                    " ".join(filter(None, (attempt.get("error"), attempt.get("details")))),
                )
                for attempt in job.attempts
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            _("step"),
            _("slot"),
            _("provider"),
            _("outcome"),
            _("time"),
            _("why"),
            rows,
        )

    @admin.display(description=_("metadata"))
    def booth_metadata(self, job: Job) -> SafeString | str:
        if not job.metadata:
            return NOTHING
        return format_html(
            '<pre style="margin: 0; white-space: pre-wrap">{}</pre>',
            json.dumps(job.metadata, indent=2, ensure_ascii=False, sort_keys=True),
        )


def _attempt_seconds(attempt: dict) -> str:
    try:
        started = datetime.fromisoformat(attempt["started_at"])
        finished = datetime.fromisoformat(attempt["finished_at"])
    except (KeyError, TypeError, ValueError):
        return NOTHING
    return _("%(seconds).1f s") % {"seconds": (finished - started).total_seconds()}


def _thumbnail_url(job_id: object) -> str:
    return reverse("api:job_thumbnail", kwargs={"job_id": str(job_id)})


def _result_url(job_id: object) -> str:
    # The guest's download, as the booth's X-Result-Url names it.
    return f"/public/results/{job_id}"


class SlotWithResultsAdmin(SlotAdmin):
    """The slots' admin (slots.admin) with each slot's latest results: a thumbnail in the list,
    the ten latest on the slot's page."""

    list_display = (*SlotAdmin.list_display[:5], "last_result", *SlotAdmin.list_display[5:])
    fieldsets = (
        *SlotAdmin.fieldsets[:-1],
        (_("Latest results"), {"fields": ("latest_results",)}),
        SlotAdmin.fieldsets[-1],
    )
    readonly_fields = (*SlotAdmin.readonly_fields, "latest_results")

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        slots = list(changelist.result_list)
        # One query for the page's thumbnails, whatever the number of rows.
        latest = latest_result_job_ids(slot_ids=[slot.pk for slot in slots])
        for slot in slots:
            slot.last_result_job_id = latest.get(slot.pk)
        changelist.result_list = slots
        return changelist

    @admin.display(description=_("last result"))
    def last_result(self, slot: Slot) -> SafeString | str:
        job_id = getattr(slot, "last_result_job_id", None)
        if job_id is None:
            return NOTHING
        return format_html(
            '<a href="{}"><img src="{}" alt="" height="48" loading="lazy"></a>',
            reverse("admin:ingest_job_change", args=[job_id]),
            _thumbnail_url(job_id),
        )

    @admin.display(description=_("latest results"))
    def latest_results(self, slot: Slot) -> SafeString | str:
        jobs = slot_latest_results(slot_id=slot.pk, limit=10)
        if not jobs:
            return _("No results yet.")
        return format_html(
            '<div class="latest-results">{}</div>',
            format_html_join(
                "",
                '<a href="{}" target="_blank" title="{}"><img src="{}" alt="" height="96"'
                ' loading="lazy"></a>',
                (
                    (
                        _result_url(job.pk),
                        f"{local_time_text(job.started_at)} · {job.get_source_display()}",
                        _thumbnail_url(job.pk),
                    )
                    for job in jobs
                ),
            ),
        )


admin.site.register(Slot, SlotWithResultsAdmin)
