"""The log of every booth request (photochanger.models.BoothRequest), written after the answer.

A request only appends to this process's buffer (a lock and a list: microseconds); a thread of
its own writes the buffer every ``BOOTH_REQUEST_LOG_SECONDS`` (a setting, 1 s; 0: no thread, the
test suite flushes itself) in one transaction. The buffer holds at most ``MAX_PENDING``
entries: when the database is slow or down, what does not fit is counted and dropped (a warning
says how many), so memory stays flat and no answer waits. Refusals without a
job are folded, in the buffer and in the table, into one row per address, slot, status, reason
and minute.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F

from photochanger.models import BoothRequest

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000


@dataclass(frozen=True)
class BoothRequestEntry:
    at: datetime
    client: str
    user_agent: str
    slot_sent: str
    status: int
    reason: str
    bytes: int | None
    job_id: uuid.UUID | None

    @property
    def folded(self) -> bool:
        """A refusal without a job: kept once per address, slot, status, reason, minute."""
        return self.job_id is None and self.status >= 400


@dataclass
class _Fold:
    entry: BoothRequestEntry
    last_at: datetime
    count: int = 1


@dataclass
class _Buffer:
    singles: list[BoothRequestEntry] = field(default_factory=list)
    folds: dict[tuple, _Fold] = field(default_factory=dict)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.singles) + len(self.folds)


class RequestLog:
    def __init__(self, *, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._buffer = _Buffer()
        self._writer: threading.Thread | None = None

    def record(self, entry: BoothRequestEntry) -> None:
        with self._lock:
            buffer = self._buffer
            if entry.folded:
                key = _fold_key(entry)
                if fold := buffer.folds.get(key):
                    fold.count += 1
                    fold.last_at = entry.at
                elif len(buffer) < self.max_pending:
                    buffer.folds[key] = _Fold(entry, entry.at)
                else:
                    buffer.dropped += 1
            elif len(buffer) < self.max_pending:
                buffer.singles.append(entry)
            else:
                buffer.dropped += 1
            if self._writer is None and django_settings.BOOTH_REQUEST_LOG_SECONDS > 0:
                self._writer = threading.Thread(
                    target=self._write_forever, name="booth-request-log", daemon=True
                )
                self._writer.start()

    def discard(self) -> None:
        """Forget what is not written yet (a test's fresh start)."""
        with self._lock:
            self._buffer = _Buffer()

    def flush(self) -> None:
        """Write what the buffer holds now (the writer thread's work; tests call it too)."""
        with self._lock:
            buffer, self._buffer = self._buffer, _Buffer()
        if buffer.dropped:
            logger.warning(
                "booth request log: %d requests not logged (the database is too slow)",
                buffer.dropped,
            )
        if not len(buffer):
            return
        try:
            with transaction.atomic():
                BoothRequest.objects.bulk_create(
                    [_row(entry, entry.at, entry.at, 1) for entry in buffer.singles]
                )
                for fold in buffer.folds.values():
                    _fold_write(fold)
        except DatabaseError as error:
            logger.warning("booth request log: %d entries lost (%s)", len(buffer), error)

    def _write_forever(self) -> None:
        while True:
            time.sleep(django_settings.BOOTH_REQUEST_LOG_SECONDS)
            try:
                self.flush()
            finally:
                close_old_connections()


def _fold_key(entry: BoothRequestEntry) -> tuple:
    minute = entry.at.replace(second=0, microsecond=0)
    return (minute, entry.client, entry.slot_sent, entry.status, entry.reason)


def _row(entry: BoothRequestEntry, at: datetime, last_at: datetime, count: int) -> BoothRequest:
    return BoothRequest(
        at=at,
        last_at=last_at,
        count=count,
        client=entry.client[:64],
        user_agent=entry.user_agent[:200],
        slot_sent=entry.slot_sent[:40],
        status=entry.status,
        reason=entry.reason[:40],
        bytes=entry.bytes,
        job_id=entry.job_id,
    )


def _fold_write(fold: _Fold) -> None:
    minute, client, slot_sent, status, reason = _fold_key(fold.entry)
    same = BoothRequest.objects.filter(
        at=minute,
        client=client[:64],
        slot_sent=slot_sent[:40],
        status=status,
        reason=reason[:40],
        job_id__isnull=True,
    )
    if not same.update(count=F("count") + fold.count, last_at=fold.last_at):
        _row(fold.entry, minute, fold.last_at, fold.count).save()


def requests_prune(*, older_than: timedelta, now: datetime, dry_run: bool = False) -> int:
    """Delete the log's rows last seen more than ``older_than`` ago; how many (or would be)."""
    old = BoothRequest.objects.filter(last_at__lt=now - older_than)
    return old.count() if dry_run else old.delete()[0]


request_log = RequestLog()
