"""Jobs: one row per photo that passed the password and slot checks."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobSource(models.TextChoices):
    INGEST = "ingest", _("booth")
    TEST_RUN = "test_run", _("test run")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")
    TIMEOUT = "timeout", _("timeout")


class Job(models.Model):
    # UUID4: the id is part of the guest's public URL, so it must be unguessable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slot = models.ForeignKey("slots.Slot", on_delete=models.PROTECT, related_name="jobs")
    source = models.CharField(max_length=16, choices=JobSource.choices, default=JobSource.INGEST)
    provider = models.CharField(max_length=16)
    operation = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    failure_reason = models.CharField(max_length=40, blank=True)
    failure_details = models.CharField(max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    fallback_original = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    deadline_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    provider_ms = models.PositiveIntegerField(null=True, blank=True)
    upload_filename = models.CharField(max_length=255, blank=True)
    upload_size = models.PositiveIntegerField(null=True, blank=True)
    upload_content_type = models.CharField(max_length=32, blank=True)
    upload_sha256 = models.CharField(max_length=64, blank=True)
    upload_hash = models.CharField(max_length=128, blank=True)
    upload_hash_matches = models.BooleanField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    result_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # stats.selectors (totals, per slot, over time) and /metrics: a window of jobs read
            # from the index alone, without visiting the table (bench/stats.py: 3-day windows
            # over 1M jobs went from ~450 ms to under 250 ms on PostgreSQL).
            models.Index(
                fields=["started_at", "slot", "status", "source", "failure_reason", "duration_ms"],
                name="job_started_stats_idx",
            ),
            # The slot page's latest results.
            models.Index(fields=["slot", "started_at"], name="job_slot_started_idx"),
            # stats.selectors: the window's failures by reason and its latest failures.
            models.Index(
                fields=["started_at", "slot", "status", "failure_reason", "http_status"],
                name="job_failed_started_idx",
                condition=models.Q(status__in=["failed", "timeout"]),
            ),
            # cleanup_media and start-up: jobs still pending past their deadline.
            models.Index(
                fields=["deadline_at"],
                name="job_pending_deadline_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.slot_id}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status != JobStatus.PENDING
