"""Jobs: one row per photo that passed the password and slot checks; workers: the server
processes that run them, each showing it is alive (ingest.workers)."""

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
    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    slot = models.ForeignKey(
        "slots.Slot", on_delete=models.PROTECT, related_name="jobs", verbose_name=_("slot")
    )
    source = models.CharField(
        _("source"), max_length=16, choices=JobSource.choices, default=JobSource.INGEST
    )
    provider = models.CharField(_("provider"), max_length=16)
    operation = models.CharField(_("operation"), max_length=40, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    # The API's failure_reason code (provider_error, …): shown as is, never translated.
    failure_reason = models.CharField(_("failure reason"), max_length=40, blank=True)
    failure_details = models.CharField(_("failure details"), max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    fallback_original = models.BooleanField(_("original sent instead"), default=False)
    started_at = models.DateTimeField(_("started at"))
    deadline_at = models.DateTimeField(_("deadline"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    provider_ms = models.PositiveIntegerField(_("provider time (ms)"), null=True, blank=True)
    upload_filename = models.CharField(_("file name"), max_length=255, blank=True)
    upload_size = models.PositiveIntegerField(_("size (bytes)"), null=True, blank=True)
    upload_content_type = models.CharField(_("content type"), max_length=32, blank=True)
    upload_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    upload_hash = models.CharField(_("hash sent by the booth"), max_length=128, blank=True)
    upload_hash_matches = models.BooleanField(_("hash matches"), null=True, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    # The prompt as the provider got it, placeholders filled from the booth's answers.
    prompt_sent = models.TextField(_("prompt sent"), blank=True)
    # Each provider call of the failover chain: step, slot, provider, started/finished (ISO),
    # outcome, error class, details (ingest.failover).
    attempts = models.JSONField(_("attempts"), default=list, blank=True)
    served_step = models.PositiveSmallIntegerField(
        _("served by step"),
        null=True,
        blank=True,
        help_text=_("0: the slot's own provider; 1 and 2: its failover slots."),
    )
    # A booth's re-send of the same photo, answered with that earlier job's result.
    repeat_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("repeat of"),
    )
    result_expires_at = models.DateTimeField(_("result kept until"), null=True, blank=True)
    # The Worker (server process) running the job; empty when the process keeps no heartbeat
    # (the ASGI app under another server, a test run in-process). No foreign key: a worker's
    # row may go long before its jobs do.
    worker = models.CharField(_("worker"), max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
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
            # ingest.repeats: an earlier job of a photo of the same size on the same slot.
            models.Index(fields=["slot", "upload_size", "started_at"], name="job_slot_photo_idx"),
            # cleanup_media, start-up and each worker's watch (ingest.workers): jobs still
            # pending past their deadline.
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


class PaidCalls(models.Model):
    """Paid provider calls that gave an image, per day (server time zone), slot and provider:
    what the daily caps and the cost estimate count (ingest.costs)."""

    day = models.DateField(_("day"))
    slot = models.ForeignKey(
        "slots.Slot", on_delete=models.CASCADE, related_name="+", verbose_name=_("slot")
    )
    provider = models.CharField(_("provider"), max_length=16)
    calls = models.PositiveIntegerField(_("calls"), default=0)

    class Meta:
        verbose_name = _("paid calls")
        verbose_name_plural = _("paid calls")
        constraints = [
            models.UniqueConstraint(fields=["day", "slot", "provider"], name="paid_calls_once")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.slot_id} {self.provider}: {self.calls}"


class Worker(models.Model):
    """A server process that runs jobs, alive while ``alive_until`` is ahead (its heartbeat)."""

    # Random, chosen when the process starts: a pid is reused, and several hosts share a table.
    id = models.CharField(_("ID"), max_length=32, primary_key=True)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("process ID"))
    started_at = models.DateTimeField(_("started at"))
    # Each heartbeat moves it forward by a few heartbeats' time: the process says itself how
    # long its silence means it stopped.
    alive_until = models.DateTimeField(_("alive until"))

    class Meta:
        # No index: a row per process (a few), read whole by each watch.
        verbose_name = _("worker")
        verbose_name_plural = _("workers")

    def __str__(self) -> str:
        return f"{self.id} ({self.host}, pid {self.pid})"
