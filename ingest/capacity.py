"""How many provider calls may be in flight: globally and, optionally, per slot.

Over the limit a request is refused at once (429), never queued: a guest waiting in a queue
would see the booth's own timeout instead of a clear answer.
"""

from __future__ import annotations

import threading
import uuid

RETRY_AFTER_SECONDS = 5


class InProcessCapacity:
    """The limit within one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots_by_job: dict[uuid.UUID, str] = {}

    def acquire(
        self, *, job_id: uuid.UUID, slot_id: str, limit: int, slot_limit: int | None
    ) -> bool:
        with self._lock:
            if len(self._slots_by_job) >= limit:
                return False
            if slot_limit is not None:
                in_slot = sum(1 for slot in self._slots_by_job.values() if slot == slot_id)
                if in_slot >= slot_limit:
                    return False
            self._slots_by_job[job_id] = slot_id
            return True

    def release(self, *, job_id: uuid.UUID) -> None:
        with self._lock:
            self._slots_by_job.pop(job_id, None)

    def in_flight(self) -> int:
        return len(self._slots_by_job)


capacity = InProcessCapacity()
